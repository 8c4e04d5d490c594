"""Write the demo registries: one SQLite store per owning agency, plus ``manifest.json``.

Chunks of people are made and written one at a time (one transaction per store per chunk,
``executemany``), so memory stays flat at a million people. Large sizes are split into
contiguous ranges of chunks, each written by its own process into part files that are then
appended, in order, to the first part (a C-speed ``INSERT ... SELECT``); the rows, and so
the data, are the same however many processes ran. Secondary indexes are built once at the
end, several times faster than keeping them up to date while loading. Loading runs without
a journal (a half-written directory is useless anyway and is regenerated); the finished
stores are switched back to a normal rollback journal.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import sqlite3
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from onceonly.connectors import connector_files
from onceonly.demo.connectors import write_connector
from onceonly.demo.registries.catalog_records import catalog_rows
from onceonly.demo.registries.gazetteer import DEMO_JURISDICTIONS, jurisdiction
from onceonly.demo.registries.manifest import (
    MANIFEST_NAME,
    RegistryManifest,
    SampleCitizen,
    StoreEntry,
)
from onceonly.demo.registries.planted import Sample, plant
from onceonly.demo.registries.population import (
    CHUNK_PEOPLE,
    REFERENCE_DATE,
    ChunkBuilder,
    sections_of,
)
from onceonly.demo.registries.rows import chunk_rows, renamed_sections, roc
from onceonly.demo.registries.schema import (
    CENTRAL_KINDS,
    LOCAL_KINDS,
    SCHEMA_VERSIONS,
    STORE_KINDS,
    datasets_of,
    metadata_for,
)

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage is ``"people"`` or ``"indexes"``."""

_DIALECT = sqlite_dialect.dialect()
_PARALLEL_FROM_CHUNKS = 4
"""Below this many chunks, starting processes costs more than it saves."""
_MAX_PROCESSES = 4


def _store_specs(codes: tuple[str, ...]) -> list[tuple[str, str, bool]]:
    """(owner, kind, cadastral map digitised) of every store, in a fixed order."""
    specs = [(STORE_KINDS[kind], kind, True) for kind in CENTRAL_KINDS]
    for code in codes:
        digitised = jurisdiction(code).cadastral_map_digitised
        specs += [(STORE_KINDS[k].format(jurisdiction=code), k, digitised) for k in LOCAL_KINDS]
    return specs


class _Store:
    """One agency's SQLite file (or one part of it) while it is being written."""

    def __init__(
        self, path: Path, kind: str, owner: str, cadastral_map: bool, create: bool = True
    ) -> None:
        self.path = path
        self.kind = kind
        self.owner = owner
        self.metadata = metadata_for(kind, cadastral_map)
        if create:
            path.unlink(missing_ok=True)
        self.connection = sqlite3.connect(path, isolation_level=None)
        # Rows arrive in key order, so a small page cache is enough while loading; 28 stores
        # are open at once in each writer, and memory must not grow with the size.
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-2048"):
            self.connection.execute(f"PRAGMA {pragma}")
        self.inserts: dict[str, str] = {}
        for table in self.metadata.sorted_tables:
            if create:
                self.connection.execute(str(CreateTable(table).compile(dialect=_DIALECT)))
            marks = ",".join("?" * len(table.columns))
            self.inserts[table.name] = f"INSERT INTO {table.name} VALUES ({marks})"

    def write_header(self) -> None:
        """What only the first part holds: which system this is and its section list."""
        meta = [
            ("owner", self.owner),
            ("system", SCHEMA_VERSIONS[self.kind]),
            ("extract_ymd", roc(REFERENCE_DATE.toordinal())),
        ]
        self.write({"meta": meta})
        if self.kind == "land_office":
            jur = jurisdiction(self.owner.split(".")[0])
            self.write({"sections": sections_of(jur).rows, "sect_history": renamed_sections(jur)})

    def write(self, tables: Mapping[str, Sequence[tuple[Any, ...]]]) -> None:
        connection = self.connection
        connection.execute("BEGIN")
        for name, rows in tables.items():
            if rows:
                connection.executemany(self.inserts[name], rows)
        connection.execute("COMMIT")

    def append(self, part: Path) -> None:
        """Append every row of a later part file, in its order."""
        connection = self.connection
        connection.execute("ATTACH DATABASE ? AS part", (str(part),))
        connection.execute("BEGIN")
        for table in self.metadata.sorted_tables:
            connection.execute(f"INSERT INTO main.{table.name} SELECT * FROM part.{table.name}")
        connection.execute("COMMIT")
        connection.execute("DETACH DATABASE part")
        part.unlink()

    def finish(self) -> None:
        connection = self.connection
        connection.execute("PRAGMA cache_size=-65536")  # index builds sort; one store at a time
        for table in self.metadata.sorted_tables:
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                connection.execute(str(CreateIndex(index).compile(dialect=_DIALECT)))
        connection.execute("ANALYZE")
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.close()

    def close(self) -> None:
        self.connection.close()


def _part_path(target_dir: Path, owner: str, part: int) -> Path:
    name = f"{owner}.sqlite" if part == 0 else f"{owner}.part{part}.sqlite"
    return target_dir / name


def _citizen(sample: Sample) -> SampleCitizen:
    person = sample.person
    return SampleCitizen(
        key=sample.key,
        national_id=person.nid,
        name=person.name,
        jurisdiction=person.household.jur.code,
        district=person.household.address.district.name,
        description_key=sample.description_key,
        jurisdictions=sample.jurisdictions,
    )


def _write_part(
    target_dir: Path,
    part: int,
    chunks: range,
    seed: int,
    people: int,
    codes: tuple[str, ...],
    report: Callable[[int], None],
) -> list[SampleCitizen]:
    """Make and write ``chunks`` into this part's files; the planted citizens if chunk 0."""
    stores = {
        owner: _Store(_part_path(target_dir, owner, part), kind, owner, digitised)
        for owner, kind, digitised in _store_specs(codes)
    }
    if part == 0:
        for store in stores.values():
            store.write_header()
    citizens: list[SampleCitizen] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # ~100k small objects per chunk: one collection per chunk is enough
    try:
        for index in chunks:
            size = min(CHUNK_PEOPLE, people - index * CHUNK_PEOPLE)
            builder = ChunkBuilder(seed, index, size, codes)
            planted, samples = plant(builder, codes) if index == 0 else ([], [])
            chunk = builder.build(planted)
            rows = chunk_rows(chunk)
            catalog_rows(rows, chunk, roc)
            for owner, tables in rows.items():
                stores[owner].write(tables)
            citizens += [_citizen(s) for s in samples if s.person.nid]
            del chunk, builder, planted, samples
            gc.collect(1)
            report(size)
    finally:
        if gc_was_enabled:
            gc.enable()
        for store in stores.values():
            store.close()
    return citizens


def _part_process(
    messages: Any,
    target_dir: Path,
    part: int,
    chunks: range,
    seed: int,
    people: int,
    codes: tuple[str, ...],
) -> None:
    """Entry point of a writer process: reports progress, then its result or its failure."""
    try:
        citizens = _write_part(
            target_dir,
            part,
            chunks,
            seed,
            people,
            codes,
            report=lambda n: messages.put(("people", part, n)),
        )
        messages.put(("done", part, citizens))
    except BaseException:
        messages.put(("failed", part, traceback.format_exc()))


def _write_parts(
    target_dir: Path,
    seed: int,
    people: int,
    codes: tuple[str, ...],
    progress: Progress | None,
) -> tuple[list[SampleCitizen], int]:
    """Write all chunks, in several processes when it pays; (citizens, number of parts)."""
    chunks = (people + CHUNK_PEOPLE - 1) // CHUNK_PEOPLE
    processes = min(_MAX_PROCESSES, os.cpu_count() or 1, chunks)
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    done = 0

    def report(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress("people", done, people)

    if chunks < _PARALLEL_FROM_CHUNKS or processes < 2 or not can_fork:
        return _write_part(target_dir, 0, range(chunks), seed, people, codes, report), 1

    bounds = [chunks * k // processes for k in range(processes + 1)]
    # fork, not spawn: the workers need no re-import and callers no __main__ guard.
    context = multiprocessing.get_context("fork")
    messages = context.Queue()
    workers = [
        context.Process(
            target=_part_process,
            args=(messages, target_dir, k, range(bounds[k], bounds[k + 1]), seed, people, codes),
            daemon=True,
        )
        for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    citizens: list[SampleCitizen] = []
    finished: set[int] = set()
    try:
        while len(finished) < processes:
            try:
                kind, part, payload = messages.get(timeout=1.0)
            except queue.Empty:
                dead = [k for k, w in enumerate(workers) if k not in finished and not w.is_alive()]
                if dead:
                    raise RuntimeError(f"registry writer process {dead[0]} died") from None
                continue
            if kind == "people":
                report(payload)
            elif kind == "failed":
                raise RuntimeError(f"registry writer process {part} failed:\n{payload}")
            else:
                finished.add(part)
                if part == 0:
                    citizens = payload
    finally:
        for worker in workers:
            worker.join(timeout=0 if len(finished) < processes else None)
            if worker.is_alive():
                worker.terminate()
    return citizens, processes


def generate_registries(
    target_dir: Path,
    people: int = 1000,
    seed: int = 20101225,
    jurisdictions: Sequence[str] = DEMO_JURISDICTIONS,
    progress: Progress | None = None,
) -> RegistryManifest:
    """Write every owning agency's store for ``people`` synthetic residents of
    ``jurisdictions`` into ``target_dir`` and return the manifest (also written there).

    Deterministic: the same seed, size and jurisdictions give the same rows, and on the
    same machine byte-identical files.
    """
    if not 1 <= people <= 9_999_999:
        raise ValueError("people must be between 1 and 9,999,999")
    codes = tuple(dict.fromkeys(jurisdictions))
    for code in codes:
        jurisdiction(code)
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / MANIFEST_NAME).unlink(missing_ok=True)
    for stale in connector_files(target_dir):
        stale.unlink()

    citizens, parts = _write_parts(target_dir, seed, people, codes, progress)

    specs = _store_specs(codes)
    for done, (owner, kind, digitised) in enumerate(specs, 1):
        store = _Store(_part_path(target_dir, owner, 0), kind, owner, digitised, create=False)
        for part in range(1, parts):
            store.append(_part_path(target_dir, owner, part))
        store.finish()
        if progress is not None:
            progress("indexes", done, len(specs))

    manifest = RegistryManifest(
        seed=seed,
        people=people,
        reference_date=REFERENCE_DATE.isoformat(),
        jurisdictions=codes,
        stores=tuple(
            StoreEntry(
                owner=owner,
                kind=kind,
                jurisdiction=None if owner.startswith("central.") else owner.split(".")[0],
                datasets=datasets_of(kind, digitised),
                url=f"sqlite:///{owner}.sqlite",
                path=f"{owner}.sqlite",
                schema_version=SCHEMA_VERSIONS[kind],
                people=people,
                seed=seed,
            )
            for owner, kind, digitised in specs
        ),
        sample_citizens={citizen.key: citizen for citizen in citizens},
    )
    for entry, (_, kind, digitised) in zip(manifest.stores, specs, strict=True):
        write_connector(
            target_dir,
            kind,
            entry.owner,
            entry.jurisdiction,
            entry.path,
            entry.schema_version,
            cadastral_map=digitised,
        )
    manifest.write(target_dir)
    return manifest
