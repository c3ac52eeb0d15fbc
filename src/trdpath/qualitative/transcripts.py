"""Read interview transcripts (.txt, .docx, .vtt, .srt) into plain text plus speaker turns.

A line that starts with a speaker prefix (``P1:``, ``C5:``, ``Interviewer:``, ``I:``) starts a turn; the turn runs
until the next prefixed line. For .txt the stored text is the file's text exactly, so offsets taken from the file
(in NVivo or by hand) stay valid. Subtitles (.vtt/.srt from Teams or Zoom) become one ``Speaker: words`` line per
run of cues by the same speaker (WebVTT ``<v Name>`` voice tags or a ``Name:`` prefix).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from trdpath.errors import InputError

# Participant IDs as the seed papers write them (P1 people with TRD, C1/CI clinicians) and interviewer names.
PARTICIPANT_LABEL = re.compile(r"^(?:P|C|CI)\d+$")
INTERVIEWER_LABELS = {"interviewer", "i", "int", "researcher", "r", "facilitator", "moderator", "interviewee",
                      "participant"}
_PREFIX = re.compile(r"^(?P<label>[A-Za-z][A-Za-z0-9_.-]{0,30})[ \t]*:[ \t]*")

SUPPORTED_SUFFIXES = (".txt", ".docx", ".vtt", ".srt")


@dataclass
class ParsedTurn:
    speaker: str
    start: int
    end: int


@dataclass
class ParsedTranscript:
    name: str
    text: str
    source_format: str
    turns: list[ParsedTurn] = field(default_factory=list)

    @property
    def participant_labels(self) -> list[str]:
        """Speakers who look like participants (P1, C5), in order of first appearance."""
        seen: list[str] = []
        for t in self.turns:
            if PARTICIPANT_LABEL.match(t.speaker) and t.speaker not in seen:
                seen.append(t.speaker)
        return seen


def is_speaker_label(label: str) -> bool:
    return bool(PARTICIPANT_LABEL.match(label)) or label.lower() in INTERVIEWER_LABELS


def find_turns(text: str) -> list[ParsedTurn]:
    """Speaker turns of a text: from after each ``Label:`` prefix to the end of the text before the next one."""
    starts: list[tuple[str, int, int]] = []  # (label, line start, content start)
    pos = 0
    for line in text.splitlines(keepends=True):
        match = _PREFIX.match(line)
        if match and is_speaker_label(match.group("label")):
            starts.append((match.group("label"), pos, pos + match.end()))
        pos += len(line)
    turns = []
    for i, (label, _line_start, content_start) in enumerate(starts):
        end = starts[i + 1][1] if i + 1 < len(starts) else len(text)
        # Trim trailing blank space so a turn ends at its last spoken character.
        while end > content_start and text[end - 1].isspace():
            end -= 1
        if end > content_start:
            turns.append(ParsedTurn(label, content_start, end))
    return turns


def _from_lines(name: str, lines: list[tuple[str | None, str]], source_format: str) -> ParsedTranscript:
    """Merge consecutive (speaker, words) lines into ``Speaker: words`` paragraphs and record the turns."""
    merged: list[list] = []
    for speaker, words in lines:
        words = words.strip()
        if not words:
            continue
        if speaker is None:
            match = _PREFIX.match(words)
            if match and is_speaker_label(match.group("label")):
                speaker, words = match.group("label"), words[match.end():]
        if merged and merged[-1][0] == speaker:
            merged[-1][1].append(words)
        else:
            merged.append([speaker, [words]])
    parts, turns, pos = [], [], 0
    for speaker, chunks in merged:
        prefix = f"{speaker}: " if speaker else ""
        body = " ".join(chunks)
        parts.append(prefix + body + "\n")
        if speaker:
            turns.append(ParsedTurn(speaker, pos + len(prefix), pos + len(prefix) + len(body)))
        pos += len(prefix) + len(body) + 1
    return ParsedTranscript(name, "".join(parts), source_format, turns)


def read_transcript(path: str | Path) -> ParsedTranscript:
    """Read one transcript file; the document name is the file name without its extension."""
    path = Path(path)
    suffix = path.suffix.lower()
    name = path.stem
    if not path.is_file():
        raise InputError("transcript file not found", file=str(path))
    if suffix == ".txt":
        try:
            # newline="" keeps \r\n as two code points, as other tools count them.
            with open(path, encoding="utf-8-sig", newline="") as fh:
                text = fh.read()
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(path)) from exc
        return ParsedTranscript(name, text, "txt", find_turns(text))
    if suffix == ".docx":
        import docx  # python-docx

        try:
            document = docx.Document(str(path))
        except Exception as exc:
            raise InputError(f"cannot read Word document: {exc}", file=str(path)) from exc
        text = "\n".join(p.text for p in document.paragraphs) + "\n"
        return ParsedTranscript(name, text, "docx", find_turns(text))
    if suffix in (".vtt", ".srt"):
        import webvtt

        try:
            captions = webvtt.read(str(path)) if suffix == ".vtt" else webvtt.from_srt(str(path))
        except Exception as exc:
            raise InputError(f"cannot read subtitles: {exc}", file=str(path)) from exc
        lines = []
        for caption in captions:
            voice = getattr(caption, "voice", None)
            lines.append((voice, " ".join(caption.text.splitlines())))
        return _from_lines(name, lines, suffix[1:])
    raise InputError(f"unsupported transcript type {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}",
                     file=str(path))
