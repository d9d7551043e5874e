// Writes a Parquet file with hyparquet-writer, an implementation independent of Parquet.Net, so the
// tests check PrefixLab's reader on a file it did not write itself. Usage:
//   node write_parquet.mjs SPEC.json
// SPEC: {"path": …, "texts": [...], "labels": [...], "label_type": "INT64"|"INT32"|"STRING",
//        "metadata": {key: value, ...}, "row_group_size": N}
import { readFileSync } from 'node:fs'
import { parquetWriteFile } from 'hyparquet-writer'

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const labels = spec.label_type === 'INT64' ? spec.labels.map(v => BigInt(v)) : spec.labels
parquetWriteFile({
  filename: spec.path,
  columnData: [
    { name: 'text', data: spec.texts, type: 'STRING' },
    { name: 'label', data: labels, type: spec.label_type },
  ],
  kvMetadata: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
  rowGroupSize: spec.row_group_size ?? 100000,
})
