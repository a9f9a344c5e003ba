/**
 * Hugging Face parquet shards in Node, with hyparquet (+ hyparquet-compressors for zstd, gzip,
 * brotli, lz4). A path can be one shard, a folder of shards (`t2i/`, `3pair/`) or a dataset root;
 * rows are read one row group at a time (a slice of one where the shard has a page index), so
 * memory stays bounded by the largest row group however large the shard. Byte arrays stay bytes (`utf8: false`): image columns hold raw PNG/JPEG files,
 * and columns annotated as strings still decode as text.
 */
import { open, readdir, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import {
  type AsyncBuffer,
  type FileMetaData,
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
  type RowGroup,
  snappyUncompress,
} from "hyparquet";
import { compressors } from "hyparquet-compressors";
import { DatasetError } from "../errors.js";
import { ImageStore } from "./image-store.js";
import type { AdapterOptions, RawRecord } from "./records.js";

/**
 * hyparquet-compressors' codecs minus its WASM snappy: hyparquet's own JS snappy is used instead
 * (GroupMemory.decompressors), because WASM memory only grows (bench: 539 vs 387 MB peak RSS on a
 * 200 MB snappy shard, and half the speed).
 */
const DECOMPRESSORS = Object.fromEntries(Object.entries(compressors).filter(([codec]) => codec !== "SNAPPY"));
const CODECS = new Set(["UNCOMPRESSED", "SNAPPY", ...Object.keys(compressors)]);

export function isParquet(path: string): boolean {
  return /\.parquet$/i.test(path);
}

/**
 * The shards under a path, sorted: the file itself, or every `*.parquet` below a folder (hidden
 * folders skipped), so `t2i/`, `3pair/` and a dataset root with one folder per config all work.
 */
export async function findShards(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => null);
  if (!info) {
    throw new DatasetError(`${path}: no such file or folder`, {
      file: path,
      hint: "check the --dataset path",
    });
  }
  if (info.isFile()) return [path];
  const out: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name.startsWith(".")) continue;
      const full = join(dir, entry.name);
      if (entry.isDirectory() && depth < 4) await walk(full, depth + 1);
      else if (entry.isFile() && isParquet(entry.name)) out.push(full);
    }
  };
  await walk(path, 0);
  return out.sort();
}

/**
 * The folder names on the way to a shard, counted from two levels above the path the user gave, so
 * the config folder (`t2i/`, `3pair/`) shows whether they named the root, the folder or a shard.
 */
export function shardFolders(given: string, shard: string): string[] {
  return relative(dirname(dirname(given)), shard)
    .split(sep)
    .slice(0, -1);
}

/**
 * A file as hyparquet's AsyncBuffer: each slice read straight into one buffer of its own from
 * `allocate` (the library's stream-and-concat reader holds every row group twice while it reads).
 */
function fileBuffer(file: string, size: number, allocate: (bytes: number) => ArrayBuffer): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      const buffer = allocate(end - start);
      const bytes = new Uint8Array(buffer);
      const handle = await open(file, "r");
      try {
        let done = 0;
        while (done < bytes.byteLength) {
          const { bytesRead } = await handle.read(bytes, done, bytes.byteLength - done, start + done);
          if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${start + done}`);
          done += bytesRead;
        }
      } finally {
        await handle.close();
      }
      return buffer;
    },
  };
}

/** The resizable ArrayBuffer of ES2024 (Node 20+), which lib ES2023 does not type. */
type ResizableArrayBuffer = ArrayBuffer & { resize(bytes: number): void };

/**
 * The memory one row group's read allocates (its column chunks as read from the file, its
 * decompressed pages), handed back the moment its rows are out. Resizable ArrayBuffers shrunk to
 * zero return their pages to the system at once; ordinary ones wait for the garbage collector,
 * which let three 80 MB row groups pile up (bench: 390 MB peak RSS on a snappy shard).
 */
class GroupMemory {
  private buffers: ResizableArrayBuffer[] = [];

  allocate(bytes: number): ArrayBuffer {
    const Resizable = ArrayBuffer as unknown as new (
      bytes: number,
      options: { maxByteLength: number },
    ) => ResizableArrayBuffer;
    const buffer = new Resizable(bytes, { maxByteLength: bytes });
    this.buffers.push(buffer);
    return buffer;
  }

  /** Frees every buffer allocated since the last release; views into them read as empty from now on. */
  release(): void {
    for (const buffer of this.buffers) buffer.resize(0);
    this.buffers = [];
  }

  /** The codecs, with snappy decompressing into this memory (its pages hold the image bytes). */
  decompressors(): Record<string, (input: Uint8Array, outputLength: number) => Uint8Array> {
    return {
      ...DECOMPRESSORS,
      SNAPPY: (input, outputLength) => {
        const output = new Uint8Array(this.allocate(outputLength));
        snappyUncompress(input, output);
        return output;
      },
    };
  }
}

/**
 * A row value whose byte arrays are copies of their own: the ones hyparquet returns are views into
 * the row group's memory, which is freed once the group's rows are out (and a view would keep the
 * whole group alive for as long as anyone holds one image).
 */
function ownBytes(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return value instanceof DataView ? value : (value as Uint8Array).slice();
  if (Array.isArray(value)) return value.map(ownBytes);
  // Structs only: a Date (timestamp columns) or other class instance passes through as it is.
  const proto = typeof value === "object" && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto === Object.prototype || proto === null) {
    return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, ownBytes(v)]));
  }
  return value;
}

export interface Shard {
  file: string;
  /** The file as read for its metadata (each row group's read gets buffers of its own). */
  buffer: AsyncBuffer;
  metadata: FileMetaData;
  /** Top-level column names, in schema order. */
  columns: string[];
}

/** Opens a shard: metadata, columns, and a check that every column's codec can be decoded. */
export async function openShard(file: string): Promise<Shard> {
  let buffer: AsyncBuffer;
  let metadata: FileMetaData;
  try {
    buffer = fileBuffer(file, (await stat(file)).size, (bytes) => new ArrayBuffer(bytes));
    metadata = await parquetMetadataAsync(buffer);
  } catch (cause) {
    throw new DatasetError(`${file}: not a readable parquet file (${(cause as Error).message})`, {
      file,
      cause,
      hint: "re-download the shard (a torn download has no footer)",
    });
  }
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      const codec = chunk.meta_data?.codec;
      if (codec && !CODECS.has(codec)) {
        const column = chunk.meta_data?.path_in_schema.join(".") ?? "?";
        throw new DatasetError(
          `${file}: column ${column} is ${codec}-compressed, which hyparquet and hyparquet-compressors cannot decode`,
          {
            file,
            field: column,
            hint: `re-save the shard with zstd or snappy, e.g. pyarrow.parquet.write_table(table, path, compression="zstd")`,
          },
        );
      }
    }
  }
  const columns = parquetSchema(metadata).children.map((c) => c.element.name);
  return { file, buffer, metadata, columns };
}

/** One row of a shard: its 0-based index in the file and its values (int64 arrive as bigint). */
export interface ParquetRow {
  file: string;
  row: number;
  value: Record<string, unknown>;
}

async function readGroup(
  shard: Shard,
  rowStart: number,
  rowEnd: number,
  columns: string[] | undefined,
  memory: GroupMemory,
) {
  const read = (cols: string[] | undefined) =>
    parquetReadObjects({
      file: fileBuffer(shard.file, shard.buffer.byteLength, (bytes) => memory.allocate(bytes)),
      metadata: shard.metadata,
      rowStart,
      rowEnd,
      compressors: memory.decompressors(),
      useOffsetIndex: true,
      utf8: false,
      ...(cols ? { columns: cols } : {}),
    });
  try {
    return await read(columns);
  } catch (cause) {
    // Find the column the library could not decode (a logical type or encoding it lacks), so the
    // error names it; this costs a second read only on the way to an error.
    let column = "?";
    for (const c of columns ?? shard.columns) {
      if (
        await read([c]).then(
          () => false,
          () => true,
        )
      ) {
        column = c;
        break;
      }
    }
    throw new DatasetError(
      `${shard.file}: rows ${rowStart}-${rowEnd - 1}, column ${column}: cannot decode (${(cause as Error).message})`,
      {
        file: shard.file,
        field: column,
        cause,
        hint: "hyparquet may not support this column's type or encoding; re-save the shard with pyarrow, or report the file",
      },
    );
  }
}

/**
 * How many rows of a row group to read at once: all of them, unless every column read has an
 * offset index (recent `datasets` releases write one, with pages of about 1 MB), which lets
 * hyparquet read only the pages holding a slice of rows.
 */
function sliceRows(group: RowGroup, columns: string[] | undefined, sliceBytes: number): number {
  const rows = Number(group.num_rows);
  const chunks = group.columns.filter(
    (c) => !columns || columns.includes(c.meta_data?.path_in_schema[0] ?? ""),
  );
  if (!chunks.every((c) => c.offset_index_offset && c.offset_index_length)) return rows;
  const bytes = chunks.reduce((sum, c) => sum + Number(c.meta_data?.total_uncompressed_size ?? 0), 0);
  return Math.max(1, Math.min(rows, Math.floor((rows * sliceBytes) / Math.max(bytes, 1))));
}

/**
 * Rows of the shards in order, one row group (or a slice of one) in memory at a time: the group's memory is freed
 * before the next is read, and every row comes out owning its bytes.
 */
export async function* readParquetRows(
  shards: readonly Shard[],
  columns?: string[],
  /** About how many bytes of a row group to read at once where its page index allows. */
  sliceBytes = 16e6,
): AsyncGenerator<ParquetRow> {
  const memory = new GroupMemory();
  for (const shard of shards) {
    let groupStart = 0;
    for (const group of shard.metadata.row_groups) {
      const groupEnd = groupStart + Number(group.num_rows);
      for (
        let start = groupStart, step = sliceRows(group, columns, sliceBytes);
        start < groupEnd;
        start += step
      ) {
        const end = Math.min(start + step, groupEnd);
        try {
          const rows = await readGroup(shard, start, end, columns, memory);
          for (const [i, value] of rows.entries()) {
            yield { file: shard.file, row: start + i, value: ownBytes(value) as Record<string, unknown> };
          }
        } finally {
          memory.release();
        }
      }
      groupStart = groupEnd;
    }
  }
}

/** Opens shards and checks they hold the columns a format reads; a wrong format names both lists. */
export async function openShards(files: readonly string[], format: string, expected: readonly string[]) {
  const shards: Shard[] = [];
  for (const file of files) {
    const shard = await openShard(file);
    const missing = expected.filter((c) => !shard.columns.includes(c));
    if (missing.length > 0) {
      throw new DatasetError(
        `${file}: --format ${format} expects columns ${expected.join(", ")}; found ${shard.columns.join(", ")} (missing ${missing.join(", ")})`,
        { file, field: missing[0], hint: "omit --format to detect the layout, or pass the one that matches" },
      );
    }
    shards.push(shard);
  }
  return shards;
}

/** Parquet rows as records for `collect`, located as `file row N`. */
export async function* parquetRecords(
  shards: readonly Shard[],
  columns?: string[],
): AsyncGenerator<RawRecord> {
  let index = 0;
  for await (const r of readParquetRows(shards, columns)) {
    yield { value: r.value, file: r.file, where: `${r.file} row ${r.row}`, line: r.row, index: index++ };
  }
}

/** The image store for a reader's options (default `<tmpdir>/autorubric-images`). */
export function imageStoreFor(options: AdapterOptions): ImageStore {
  return new ImageStore(options.imageCacheDir ?? join(tmpdir(), "autorubric-images"));
}
