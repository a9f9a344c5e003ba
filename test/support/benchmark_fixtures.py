"""Benchmark files in the exact upstream layouts, for the dataset adapter tests and the parquet bench.

Parquet is written with pyarrow the way Hugging Face `datasets` writes it: an `Image` column is
`struct<bytes: binary, path: string>`, a list of images is `list<struct<bytes, path>>`, and the
schema metadata key `huggingface` holds the features. Images are tiny solid PNGs whose gray level
is the "quality" the test stand-in VLM sees (it prefers the brighter image), so every accuracy
figure in the tests can be computed by hand from the levels below.

    python benchmark_fixtures.py OUT_DIR                   # the test fixtures
    python benchmark_fixtures.py --bench-shard FILE --mb N [--codec datasets|snappy]
                                                            # one shard of N MB of 512x512 PNGs
    python benchmark_fixtures.py --reader-shards OUT_DIR   # the parquet reader's test shards
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
IMAGES = pa.list_(IMAGE)


def png(level: int, size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (level, level, level)).save(buf, format="PNG")
    return buf.getvalue()


def image(level: int, name: str | None = None) -> dict:
    # `datasets` keeps the original file name in `path` when it had one, else null.
    return {"bytes": png(level), "path": name}


def features(schema: pa.Schema, image_cols: set[str], list_cols: set[str]) -> dict:
    out = {}
    for field in schema:
        if field.name in image_cols:
            out[field.name] = {"_type": "Image"}
        elif field.name in list_cols:
            out[field.name] = {"feature": {"_type": "Image"}, "_type": "List"}
        elif pa.types.is_integer(field.type):
            out[field.name] = {"dtype": "int64", "_type": "Value"}
        else:
            out[field.name] = {"dtype": "string", "_type": "Value"}
    return out


def write(path: Path, schema: pa.Schema, rows: list[dict], codec: str, images: set[str], lists: set[str]):
    meta = {"info": {"features": features(schema, images, lists)}}
    schema = schema.with_metadata({"huggingface": json.dumps(meta)})
    table = pa.Table.from_pylist(rows, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Recent `datasets` leaves image leaves uncompressed; re-saved shards compress everything.
    pq.write_table(table, path, compression=codec, row_group_size=2)


MMRB2 = pa.schema(
    [
        ("pair_id", pa.string()),
        ("prompt_text", pa.string()),
        ("prompt_images", IMAGES),
        ("response_a_text", pa.string()),
        ("response_a_images", IMAGES),
        ("response_b_text", pa.string()),
        ("response_b_images", IMAGES),
        ("chosen", pa.string()),
        ("prompt_source", pa.string()),
        ("response_a_model", pa.string()),
        ("response_b_model", pa.string()),
        ("human_annotations", pa.string()),
        ("prompt_metadata", pa.string()),
    ]
)
MMRB2_LISTS = {"prompt_images", "response_a_images", "response_b_images"}


def mmrb2_row(pid, text, prompt_levels, a_levels, b_levels, chosen, source):
    return {
        "pair_id": pid,
        "prompt_text": text,
        "prompt_images": [image(v, f"{pid}_prompt_{i}.png") for i, v in enumerate(prompt_levels)],
        "response_a_text": "",
        "response_a_images": [image(v) for v in a_levels],
        "response_b_text": "",
        "response_b_images": [image(v) for v in b_levels],
        "chosen": chosen,
        "prompt_source": source,
        "response_a_model": "model-a",
        "response_b_model": "model-b",
        "human_annotations": json.dumps([{"annotator": 1, "choice": chosen}]),
        "prompt_metadata": json.dumps({"id": pid}),
    }


def mmrb2(root: Path) -> None:
    # t2i: the brighter response wins for the judge; t2i_2's human prefers the darker one.
    t2i = [
        mmrb2_row("t2i_0", "a red apple", [], [200], [50], "A", "oneigbench"),
        mmrb2_row("t2i_1", "two cats", [], [60], [180], "b", "oneigbench"),
        mmrb2_row("t2i_2", "a poster", [], [210], [40], "B", "evalmuse"),
        mmrb2_row("t2i_3", "a blue car", [], [100], [220], "B", "evalmuse"),
    ]
    write(root / "t2i/test-00000-of-00002.parquet", MMRB2, t2i[:2], "snappy", set(), MMRB2_LISTS)
    write(root / "t2i/test-00001-of-00002.parquet", MMRB2, t2i[2:], "zstd", set(), MMRB2_LISTS)
    edit = [
        mmrb2_row("edit_0", "make it night", [128], [230], [20], "A", "emu-edit"),
        # Two input images, in order; the instruction refers to both.
        mmrb2_row("edit_1", "put the cat of <image_1> into <image_2>", [90, 140], [30], [240], "B", "multi"),
        # Response A holds two images: the first (250) is judged, against B (100); the human says B.
        mmrb2_row("edit_2", "add a hat", [128], [250, 10], [100], "B", "emu-edit"),
    ]
    write(root / "edit/test-00000-of-00001.parquet", MMRB2, edit, "zstd", set(), MMRB2_LISTS)


EDITREWARD = pa.schema(
    [
        ("id", pa.string()),
        ("instruction", pa.string()),
        ("source_image", IMAGE),
        ("candidate_1", IMAGE),
        ("candidate_2", IMAGE),
        ("ranking", pa.string()),
        ("comparison_type", pa.string()),
        ("score_1", pa.float64()),
        ("score_2", pa.float64()),
        ("model_1", pa.string()),
        ("model_2", pa.string()),
        ("dataset", pa.string()),
        ("num_candidates", pa.int64()),
    ]
)
EDITREWARD_IMAGES = {"source_image", "candidate_1", "candidate_2"}


def group_rows(gid: str, subset: str, levels: dict[str, int], rankings: dict[str, str]) -> list[dict]:
    """One row per pairwise comparison of a group; `rankings` maps "AvsB" to the human label."""
    rows = []
    for k, (ctype, ranking) in enumerate(rankings.items()):
        first, second = ctype.split("vs")
        rows.append(
            {
                "id": f"{gid}_{k}",
                "instruction": f"edit number {gid}",
                "source_image": image(128),
                "candidate_1": image(levels[first]),
                "candidate_2": image(levels[second]),
                "ranking": ranking,
                "comparison_type": ctype,
                "score_1": 0.0,
                "score_2": 0.0,
                "model_1": f"m{first}",
                "model_2": f"m{second}",
                "dataset": subset,
                "num_candidates": len(levels),
            }
        )
    return rows


def editreward(root: Path) -> None:
    two = (
        group_rows("101", "2pair", {"A": 200, "B": 60}, {"AvsB": "A>B"})
        + group_rows("102", "2pair", {"A": 50, "B": 190}, {"AvsB": "B>A"})
        + group_rows("103", "2pair", {"A": 120, "B": 121}, {"AvsB": "A=B"})
    )
    three_a = group_rows("201", "3pair", {"A": 220, "B": 150, "C": 40}, {"AvsB": "A>B", "AvsC": "A>C", "BvsC": "B>C"})
    # A tie between B and C; its rows are split over both shards.
    three_b = group_rows("202", "3pair", {"A": 60, "B": 200, "C": 130}, {"AvsB": "B>A", "AvsC": "C>A", "BvsC": "B=C"})
    four = group_rows(
        "301",  # a cycle: A>B, B>C, C>A
        "4pair",
        {"A": 40, "B": 90, "C": 160, "D": 230},
        {"AvsB": "A>B", "AvsC": "C>A", "AvsD": "D>A", "BvsC": "B>C", "BvsD": "D>B", "CvsD": "D>C"},
    ) + group_rows(
        "302",
        "4pair",
        {"A": 230, "B": 170, "C": 110, "D": 50},
        {"AvsB": "A>B", "AvsC": "A>C", "AvsD": "A>D", "BvsC": "B>C", "BvsD": "B>D", "CvsD": "C>D"},
    )
    write(root / "2pair/train-00000-of-00001.parquet", EDITREWARD, two, "snappy", EDITREWARD_IMAGES, set())
    write(
        root / "3pair/train-00000-of-00002.parquet",
        EDITREWARD,
        three_a + three_b[:1],
        "snappy",
        EDITREWARD_IMAGES,
        set(),
    )
    write(root / "3pair/train-00001-of-00002.parquet", EDITREWARD, three_b[1:], "zstd", EDITREWARD_IMAGES, set())
    write(root / "4pair/train-00000-of-00001.parquet", EDITREWARD, four, "zstd", EDITREWARD_IMAGES, set())


def hpdv3(root: Path) -> None:
    rows = []
    for i, (good, bad) in enumerate([(200, 40), (180, 70), (90, 160)]):
        rows.append(
            {
                "prompt": f"hpd prompt {i}",
                "path1": f"images/{i}-good.jpg",
                "path2": f"images/{i}-bad.jpg",
                "model1": "flux",
                "model2": "sd3",
            }
        )
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (good,) * 3).save(root / f"images/{i}-good.jpg", format="JPEG")
        # The known upstream gap (MizzenAI/HPSv3 issue 21): an image named in test.json is absent.
        if i != 1:
            Image.new("RGB", (8, 8), (bad,) * 3).save(root / f"images/{i}-bad.jpg", format="JPEG")
    (root / "test.json").write_text(json.dumps(rows, indent=1))


# How `datasets` has written parquet (huggingface/datasets, src/datasets/io/parquet.py and
# arrow_writer.py). Up to 4.0: pyarrow's defaults (snappy, dictionary pages, no page index) in row
# groups of 100 rows for image datasets. From 4.6: embedded images PLAIN and uncompressed, other
# columns snappy, content-defined pages with a page index, row groups of about 100 MB uncompressed.
BENCH_WRITERS = {
    "snappy": ({"compression": "snappy"}, 100),
    "datasets": (
        {
            "compression": {"id": "snappy", "image": "none"},
            "use_dictionary": ["id"],
            "column_encoding": {"image": "PLAIN"},
            "use_content_defined_chunking": {
                "min_chunk_size": 256 * 1024,
                "max_chunk_size": 1024 * 1024,
                "norm_level": 0,
            },
            "write_page_index": True,
        },
        None,
    ),
}


def bench_shard(path: Path, megabytes: int, codec: str) -> None:
    """Unique 512x512 noise PNGs (about 0.8 MB each), written as `datasets` writes them.

    codec "datasets": as recent `datasets` releases; "snappy": as releases up to 4.0 (BENCH_WRITERS).
    """
    schema = pa.schema([("id", pa.string()), ("image", IMAGE)])
    meta = {"info": {"features": features(schema, {"image"}, set())}}
    schema = schema.with_metadata({"huggingface": json.dumps(meta)})
    options, group_rows = BENCH_WRITERS[codec]
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    written, i = 0, 0
    with pq.ParquetWriter(path, schema, **options) as writer:
        rows, group_bytes = [], 0
        while written < megabytes * 1_000_000:
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(buf, format="PNG")
            rows.append({"id": f"row{i}", "image": {"bytes": buf.getvalue(), "path": None}})
            written += buf.tell()
            group_bytes += buf.tell()
            i += 1
            full = len(rows) == group_rows if group_rows else group_bytes >= 100_000_000
            if full or written >= megabytes * 1_000_000:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows, group_bytes = [], 0


def reader_shards(out: Path) -> None:
    """The same 10 rows of unique noise PNGs twice, for the parquet reader's tests, with the sha256 of
    each row's image in `sha256.json`: `snappy.parquet` as `datasets` up to 4.0 writes (one dictionary
    page per row group, no page index) in row groups of 4 rows; `paged.parquet` as recent releases
    write (PLAIN, uncompressed, page index), one row group of pages of one image each."""
    rng = np.random.default_rng(1)
    schema = pa.schema([("id", pa.string()), ("image", IMAGE)])
    rows = []
    for i in range(10):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buf, format="PNG")
        rows.append({"id": f"row{i}", "image": {"bytes": buf.getvalue(), "path": None}})
    out.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, out / "snappy.parquet", row_group_size=4, **BENCH_WRITERS["snappy"][0])
    paged = {**BENCH_WRITERS["datasets"][0], "use_content_defined_chunking": False}
    pq.write_table(table, out / "paged.parquet", data_page_size=1, write_batch_size=1, **paged)
    digests = {r["id"]: hashlib.sha256(r["image"]["bytes"]).hexdigest() for r in rows}
    (out / "sha256.json").write_text(json.dumps(digests))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--bench-shard", type=Path)
    parser.add_argument("--reader-shards", type=Path)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--codec", choices=["datasets", "snappy"], default="datasets")
    args = parser.parse_args()
    if args.reader_shards:
        reader_shards(args.reader_shards)
        return
    if args.bench_shard:
        bench_shard(args.bench_shard, args.mb, args.codec)
        return
    mmrb2(args.out / "mmrb2")
    editreward(args.out / "editreward-bench")
    hpdv3(args.out / "hpdv3")


if __name__ == "__main__":
    main()
