#!/usr/bin/env python3
"""An independent reader of TensorBoard event files, for PrefixLab's tests (standard library only:
Debian's python3 has no tensorboard package).

  read_tfevents.py DIR      prints JSON: {"files": [{"name": ..., "events": [...]}, ...]}

Each file is TFRecord framing - uint64 length (little-endian), masked CRC32C of those 8 bytes, the
data, masked CRC32C of the data - around tensorflow.Event protobufs. Every CRC is verified and every
byte must belong to a record: anything else exits 1 with the file and offset. Events are decoded by
hand from the protobuf wire format:
  Event:   1 wall_time (double), 2 step (int64), 3 file_version (string), 5 summary (Summary)
  Summary: 1 value (repeated Value)
  Value:   1 tag, 2 simple_value (float), 8 tensor (TensorProto), 9 metadata (SummaryMetadata)
  TensorProto: 1 dtype, 8 string_val (repeated bytes); SummaryMetadata: 1 plugin_data {1 plugin_name}
"""
import json
import os
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def fields(buf):
    """(field number, wire type, value) of a protobuf message; value is int, bytes or raw 4/8 bytes."""
    at = 0
    while at < len(buf):
        key, at = varint(buf, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = varint(buf, at)
        elif wire == 1:
            value, at = buf[at:at + 8], at + 8
        elif wire == 2:
            length, at = varint(buf, at)
            value, at = buf[at:at + length], at + length
        elif wire == 5:
            value, at = buf[at:at + 4], at + 4
        else:
            raise ValueError(f"wire type {wire} at {at}")
        yield number, wire, value


def varint(buf, at):
    result, shift = 0, 0
    while True:
        byte = buf[at]
        at += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, at


def signed64(value):
    return value - (1 << 64) if value >= 1 << 63 else value


def value_of(buf):
    tag, scalar, text, plugin = None, None, None, None
    for number, wire, value in fields(buf):
        if number == 1 and wire == 2:
            tag = value.decode("utf-8")
        elif number == 2 and wire == 5:
            scalar = struct.unpack("<f", value)[0]
        elif number == 8 and wire == 2:
            strings = [v.decode("utf-8") for n, w, v in fields(value) if n == 8 and w == 2]
            text = strings[0] if len(strings) == 1 else strings
        elif number == 9 and wire == 2:
            for n, w, v in fields(value):
                if n == 1 and w == 2:
                    plugin = next((p.decode("utf-8") for m, x, p in fields(v) if m == 1 and x == 2), None)
    return tag, scalar, text, plugin


def event_of(buf):
    event = {"wall_time": None, "step": 0, "scalars": {}, "texts": {}}
    for number, wire, value in fields(buf):
        if number == 1 and wire == 1:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif number == 2 and wire == 0:
            event["step"] = signed64(value)
        elif number == 3 and wire == 2:
            event["file_version"] = value.decode("utf-8")
        elif number == 5 and wire == 2:
            for n, w, v in fields(value):
                if n == 1 and w == 2:
                    tag, scalar, text, plugin = value_of(v)
                    if scalar is not None:
                        event["scalars"][tag] = scalar
                    elif text is not None:
                        event["texts"][tag] = {"plugin": plugin, "text": text}
    return event


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    events, at = [], 0
    while at < len(data):
        if at + 12 > len(data):
            sys.exit(f"{path}: {len(data) - at} stray bytes at offset {at}")
        header = data[at:at + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[at + 8:at + 12])
        if header_crc != masked(header):
            sys.exit(f"{path}: length CRC mismatch at offset {at}")
        if at + 16 + length > len(data):
            sys.exit(f"{path}: record at offset {at} runs past the end")
        body = data[at + 12:at + 12 + length]
        (body_crc,) = struct.unpack("<I", data[at + 12 + length:at + 16 + length])
        if body_crc != masked(body):
            sys.exit(f"{path}: data CRC mismatch at offset {at}")
        events.append(event_of(body))
        at += 16 + length
    return events


def main():
    directory = sys.argv[1]
    names = sorted(n for n in os.listdir(directory) if n.startswith("events.out.tfevents."))
    print(json.dumps({"files": [{"name": n, "events": read(os.path.join(directory, n))} for n in names]}))


if __name__ == "__main__":
    main()
