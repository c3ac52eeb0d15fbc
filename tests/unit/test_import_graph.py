"""The import graph of trdpath has no cycle and no upward import (issue 15, "Done when").

Built with grimp (the graph library behind import-linter), every import counted, including those
inside functions: a lazy import is still a dependency. Layers, top to bottom:

  4 commands   trdpath.cli, trdpath.__main__, trdpath.demo, every sub-command module (trdpath.X.cli) and
               trdpath.commandline (what they share: console, options, progress)
  3 api        trdpath.api
  2 areas      report, stats, definitions, early, serve, joint, qualitative, synth, output (the results writer)
  1 pipeline   trdpath.pipeline (the stages in order)
  0 stages     sources, cohort, treatment, classify (the TRD rule), data_quality, patient_table, service_use,
               in_memory (the reference), engines
 -1 base       config, errors, schema, reference, layout, atomic, safety, values, nlp (the
               notes model), and cohort.exclusions (the ordered cohort rules schema.py takes)

A module may import its own layer or any below it, never above. Within the stages the order is
engines < sources < the rest (sources never imports the cohort or treatment stages).
"""

from __future__ import annotations

import grimp
import pytest

BASE = {"trdpath", "trdpath.config", "trdpath.errors", "trdpath.schema", "trdpath.reference", "trdpath.layout",
        "trdpath.atomic", "trdpath.safety", "trdpath.values", "trdpath.nlp",
        "trdpath.cohort.exclusions"}
AREAS = {"trdpath.report", "trdpath.stats", "trdpath.definitions", "trdpath.early", "trdpath.serve", "trdpath.joint",
         "trdpath.qualitative", "trdpath.synth", "trdpath.output"}
# Inside layer 0, a finer order: the engines below the sources below the other stages.
STAGE_ORDER = {"trdpath.engines": 0.0, "trdpath.sources": 0.1}


def layer(module: str) -> float:
    parts = module.split(".")
    if module in ("trdpath.cli", "trdpath.__main__", "trdpath.demo", "trdpath.commandline") or (len(parts) >= 3 and parts[-1] == "cli"):
        return 4
    if module == "trdpath.api":
        return 3
    # The most specific name listed decides (trdpath.cohort.exclusions before trdpath.cohort).
    for depth in range(len(parts), 0, -1):
        name = ".".join(parts[:depth])
        if name in BASE and (depth > 1 or module == "trdpath"):
            return -1
        if name in AREAS:
            return 2
        if name == "trdpath.pipeline":
            return 1
        if name in STAGE_ORDER:
            return STAGE_ORDER[name]
    return 0.5  # the other stages: cohort, treatment, classify, data_quality, patient_table, service_use, in_memory


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("trdpath")


def _imports(graph):
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            yield module, imported


def test_no_upward_import(graph):
    upward = [f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})" for a, b in _imports(graph) if layer(a) < layer(b)]
    assert upward == []


def test_no_import_cycle(graph):
    """No strongly connected group of modules (Tarjan's algorithm over the direct imports)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        # Iterative depth-first search: the graph is a few hundred modules, but keep the stack flat.
        work = [(node, iter(sorted(graph.find_modules_directly_imported_by(node))))]
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[current] = min(low[current], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[current])
            if low[current] == index[current]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == current:
                        break
                if len(group) > 1:
                    cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_checks_can_fail():
    """The layer rule and the cycle finder see what they look for (a made-up graph)."""
    made_up = grimp.ImportGraph()
    for name in ("trdpath.api", "trdpath.pipeline", "trdpath.engines.kinds", "trdpath.cohort.notes"):
        made_up.add_module(name)
    made_up.add_import(importer="trdpath.engines.kinds", imported="trdpath.pipeline")  # upward
    made_up.add_import(importer="trdpath.pipeline", imported="trdpath.cohort.notes")
    made_up.add_import(importer="trdpath.cohort.notes", imported="trdpath.pipeline")  # a cycle (and upward)
    assert [(a, b) for a, b in _imports(made_up) if layer(a) < layer(b)] == [
        ("trdpath.cohort.notes", "trdpath.pipeline"), ("trdpath.engines.kinds", "trdpath.pipeline")]
    with pytest.raises(AssertionError):
        test_no_import_cycle(made_up)
