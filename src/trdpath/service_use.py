"""Service use: referrals per service category (study-definition.md 7; the paper's six services)."""

from __future__ import annotations

import re

import ibis
import pandas as pd

from trdpath.reference import SERVICE_CATEGORIES, ReferenceData


class ServiceCategories:
    def __init__(self, reference: ReferenceData):
        self._patterns = [
            (re.compile(p, re.IGNORECASE), c)
            for p, c in zip(reference.service_categories["pattern"], reference.service_categories["service_category"])
        ]

    def categorise(self, service: str | None) -> str | None:
        """The first pattern that matches the team name, or None."""
        if service is None or (isinstance(service, float) and pd.isna(service)):
            return None
        for pattern, category in self._patterns:
            if pattern.search(str(service)):
                return category
        return None


def service_map(con, referrals: ibis.Table, categories: ServiceCategories) -> pd.DataFrame:
    """Distinct (service, service_category) pairs -> the category used, with counts."""
    pairs = con.execute(
        referrals.mutate(service_key=referrals.service.fill_null(""), given=referrals.service_category.fill_null(""))
        .group_by(["service_key", "given"]).agg(n=ibis._.count())
    )
    given = pairs["given"].str.strip().str.lower().str.replace(" ", "_").str.replace("-", "_")
    pairs["category"] = [
        g if g in SERVICE_CATEGORIES else categories.categorise(s) for g, s in zip(given, pairs["service_key"])
    ]
    return pairs


def referral_counts(referrals: ibis.Table, mapping: ibis.Table, index_date) -> ibis.Table:
    """patient_id, referrals_<category> for each of the six categories, up to the index date.

    `mapping`: service_key, given -> category_id (the category's place in SERVICE_CATEGORIES), only for
    services with a category: integers compared per referral, not the category's name."""
    r = referrals.filter(referrals.date <= index_date).mutate(
        service_key=referrals.service.fill_null(""), given=referrals.service_category.fill_null("")
    )
    r = r.join(mapping, ["service_key", "given"])
    return r.group_by("patient_id").agg(
        **{f"referrals_{c}": r.count(where=r.category_id == i) for i, c in enumerate(SERVICE_CATEGORIES)}
    )


def with_referral_counts(con, t: ibis.Table, referrals: ibis.Table | None, reference: ReferenceData,
                         index_date) -> tuple[ibis.Table, pd.DataFrame | None]:
    """`t` with referrals_<category> per patient (0 without a referrals table), and the service map
    (its unmatched services go to data quality)."""
    columns = [f"referrals_{c}" for c in SERVICE_CATEGORIES]
    if referrals is None:
        return t.mutate(**{c: ibis.literal(0, "int64") for c in columns}), None
    smap = service_map(con, referrals, ServiceCategories(reference))
    ids = {c: i for i, c in enumerate(SERVICE_CATEGORIES)}
    known = smap[smap["category"].isin(list(ids))]
    smap_t = ibis.memtable(known[["service_key", "given"]].assign(category_id=known["category"].map(ids).astype("int64")),
                           schema={"service_key": "string", "given": "string", "category_id": "int64"})
    counts = referral_counts(referrals, smap_t, index_date)
    t = t.left_join(counts, "patient_id").drop("patient_id_right")
    return t.mutate(**{c: t[c].fill_null(0) for c in columns}), smap
