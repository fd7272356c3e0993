"""Streams of the campaign API: an audience CSV read while it uploads, a report written while
it downloads. Both run the database side in a thread and hand chunks over a bounded queue, so
memory stays bounded whatever the size (64 kB chunks in, 20,000-row batches to the database,
1,000-row CSV chunks out)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import queue
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import Future

from campaigns import AudienceNotCsv, AudienceRules, ScheduledRow, Template
from store import AudienceLoad, AudienceSkip, AudienceTotals, ReportRow

UPLOAD_CHUNK = 64 * 1024
QUEUE_CHUNKS = 16  # chunks buffered between the socket and the loader (≈ 1 MB)
# Rows per COPY / executemany (the writer works on one while the next parses). Each statement
# of a batch hands the GIL back to the writer thread, which waits up to the switch interval
# (5 ms) for the parsing thread to let go of it: with 5,000 rows those waits left PostgreSQL
# idle a quarter of the load (62,371 recipients/s; 20,000 rows: 79,975 / 85,804, in
# `bench/campaign_expansion.py --postgres --recipients 1000000`). Memory: ~4 MB a batch.
DB_BATCH = 20_000
REPORT_CHUNK_ROWS = 1000
REPORT_HEADER = ("line", "to", "status", "error_code", "carrier", "cost", "message_id")
_END = b""


class ChunkReader(io.RawIOBase):
    """A readable byte stream over chunks taken from a queue (`b""` ends it)."""

    def __init__(self, chunks: queue.Queue[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._ended = False

    def readable(self) -> bool:
        """Yes."""
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        """Fill `buffer` from the current chunk, waiting for the next one when it is used up."""
        while not self._pending and not self._ended:
            chunk = self._chunks.get()
            if chunk == _END:
                self._ended = True
            else:
                self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def load_rows(
    load: AudienceLoad,
    template: Template,
    header: Sequence[str],
    rows: Iterable[tuple[int, Sequence[str]]],
) -> AudienceTotals:
    """Check `header`, render every (line, fields) row, stage them in batches and finish."""
    rules = AudienceRules(template, header)
    batch: list[ScheduledRow] = []
    skips: list[AudienceSkip] = []
    for line, fields in rows:
        result = rules.row(line, fields)
        if isinstance(result, ScheduledRow):
            batch.append(result)
        else:
            skips.append(
                AudienceSkip(result.line, result.number, result.reason.value, result.detail)
            )
        if len(batch) >= DB_BATCH or len(skips) >= DB_BATCH:
            load.add(batch, skips)
            batch, skips = [], []
    load.add(batch, skips)
    return load.finish()


def _csv_rows(reader: Iterator[list[str]], line_of: list[int]) -> Iterator[tuple[int, list[str]]]:
    for fields in reader:
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank lines are not recipients
        yield line_of[0], fields


def load_csv(load: AudienceLoad, template: Template, chunks: queue.Queue[bytes]) -> AudienceTotals:
    """Read a CSV (UTF-8, a header naming the columns) from `chunks` into `load`.

    Raises:
        AudienceNotCsv: the bytes are not UTF-8 CSV (nothing is stored: the caller aborts).
        AudienceMissingTo, TemplateUnknownVariable: the header does not fit.
    """
    text = io.TextIOWrapper(
        io.BufferedReader(ChunkReader(chunks)), encoding="utf-8-sig", newline=""
    )
    reader = csv.reader(text, strict=True)
    line_of = [0]

    class _Lines:
        def __iter__(self) -> Iterator[list[str]]:
            return self

        def __next__(self) -> list[str]:
            fields = next(reader)
            line_of[0] = reader.line_num
            return fields

    try:
        lines = _Lines()
        header = next(lines, None)
        if header is None or not any(h.strip() for h in header):
            raise AudienceNotCsv("audience", "the upload is empty: expected a header line first")
        if "\x00" in "".join(header):
            raise AudienceNotCsv("audience", "line 1 holds binary data: not CSV text")
        if len({h.strip() for h in header}) != len(header):
            raise AudienceNotCsv("audience", "line 1: a column is named twice")
        return load_rows(load, template, header, _csv_rows(lines, line_of))
    except UnicodeDecodeError:
        raise AudienceNotCsv(
            "audience", f"line {reader.line_num + 1}: not UTF-8 text (is this a CSV file?)"
        ) from None
    except csv.Error as error:
        raise AudienceNotCsv("audience", f"line {reader.line_num}: not CSV ({error})") from None


async def feed(
    content: AsyncIterator[bytes], chunks: queue.Queue[bytes], loader: Future[AudienceTotals]
) -> None:
    """Copy the request body into `chunks` until it ends or the loader stops reading."""
    async for chunk in content:
        while True:
            if loader.done():
                return  # refused early (no `to` column…): the rest of the body is not needed
            try:
                chunks.put_nowait(chunk)
                break
            except queue.Full:
                await asyncio.sleep(0.002)
    while not loader.done():
        try:
            chunks.put_nowait(_END)
            return
        except queue.Full:
            await asyncio.sleep(0.002)


def report_chunks(rows: Iterable[ReportRow]) -> Iterator[bytes]:
    """The report as CSV bytes, a header then chunks of rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_HEADER)
    for count, r in enumerate(rows, start=1):
        writer.writerow(
            (
                r.line,
                r.to,
                r.status,
                r.error_code or "",
                r.carrier or "",
                "" if r.cost is None else str(r.cost),
                r.message_id or "",
            )
        )
        if count % REPORT_CHUNK_ROWS == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def produce(chunks: Iterator[bytes], into: queue.Queue[bytes | None], stop: list[bool]) -> None:
    """Run in a thread: put every chunk into `into` (then None) until `stop[0]` is set."""
    try:
        for chunk in chunks:
            while not stop[0]:
                with contextlib.suppress(queue.Full):
                    into.put(chunk, timeout=0.5)
                    break
            if stop[0]:
                return
    finally:
        with contextlib.suppress(queue.Full):
            into.put(None, timeout=5)
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
