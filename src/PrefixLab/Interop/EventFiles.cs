using System.Buffers.Binary;
using Google.Protobuf;
using Tensorboard;

namespace PrefixLab.Interop;

/// <summary>
/// TensorBoard's event files: TFRecord framing (little-endian uint64 length, masked CRC32C of those 8
/// bytes, the data, masked CRC32C of the data) around serialized <c>Event</c> protobufs. The messages
/// are TorchSharp's generated <c>Tensorboard.Event</c> classes; the framing is written here, because
/// TorchSharp 0.107's <c>SummaryWriter</c> stamps its first event with .NET ticks instead of Unix
/// seconds, rounds every wall time to whole seconds, and cannot read a file back to drop a resumed run's
/// repeated steps.
/// </summary>
public static class EventFiles
{
    /// <summary>The prefix TensorBoard looks for in a log directory.</summary>
    public const string Prefix = "events.out.tfevents.";

    /// <summary>The version string of the first event of a file.</summary>
    public const string FileVersion = "brain.Event:2";

    /// <summary>The record of <paramref name="event"/>, framed.</summary>
    public static byte[] Frame(Event @event)
    {
        byte[] data = @event.ToByteArray();
        var record = new byte[8 + 4 + data.Length + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(record, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), MaskedCrc(record.AsSpan(0, 8)));
        data.CopyTo(record, 12);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(12 + data.Length), MaskedCrc(data));
        return record;
    }

    /// <summary>
    /// The events of a file, in order, up to its first record that is cut short or fails a CRC (a run
    /// killed mid-write leaves such a tail; what follows it cannot be trusted).
    /// </summary>
    public static List<Event> Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var events = new List<Event>();
        int at = 0;
        while (at + 12 <= bytes.Length)
        {
            var header = bytes.AsSpan(at, 8);
            ulong length = BinaryPrimitives.ReadUInt64LittleEndian(header);
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)) != MaskedCrc(header) || length > (ulong)(bytes.Length - at - 16))
            {
                break;
            }
            var data = bytes.AsSpan(at + 12, (int)length);
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 12 + (int)length)) != MaskedCrc(data))
            {
                break;
            }
            try
            {
                // From an array: TorchSharp's generated classes predate span-based parsing.
                events.Add(Event.Parser.ParseFrom(data.ToArray()));
            }
            catch (InvalidProtocolBufferException)
            {
                break;
            }
            at += 16 + (int)length;
        }
        return events;
    }

    /// <summary>
    /// Drops from the event files in <paramref name="directory"/> whose names end in
    /// <paramref name="suffix"/> the events of steps after <paramref name="lastStep"/> (a run resumed
    /// from that step writes them again), rewriting each file atomically; a file left with nothing but
    /// its version record is deleted. Other files are not touched. Returns the events kept.
    /// </summary>
    public static List<Event> Truncate(string directory, string suffix, long lastStep)
    {
        var kept = new List<Event>();
        if (!Directory.Exists(directory))
        {
            return kept;
        }
        foreach (string file in Directory.GetFiles(directory, Prefix + "*" + suffix).Order(StringComparer.Ordinal))
        {
            var events = Read(file);
            var keep = events.Where(e => e.Step <= lastStep && e.WhatCase != Event.WhatOneofCase.FileVersion).ToList();
            if (keep.Count == 0)
            {
                File.Delete(file);
                continue;
            }
            kept.AddRange(keep);
            bool dropped = keep.Count != events.Count(e => e.WhatCase != Event.WhatOneofCase.FileVersion);
            bool damagedTail = new FileInfo(file).Length != events.Sum(e => Frame(e).LongLength);
            if (dropped || damagedTail)
            {
                var header = events.FirstOrDefault(e => e.WhatCase == Event.WhatOneofCase.FileVersion) ?? VersionEvent();
                Util.AtomicFile.Write(file, stream =>
                {
                    foreach (var e in keep.Prepend(header))
                    {
                        stream.Write(Frame(e));
                    }
                });
            }
        }
        return kept;
    }

    /// <summary>The event that opens a file: the format's version, stamped with the current time.</summary>
    public static Event VersionEvent() => new() { WallTime = Now(), FileVersion = FileVersion };

    /// <summary>Seconds since the Unix epoch, to the millisecond (TensorBoard's wall time).</summary>
    public static double Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>CRC-32C rotated right by 15 bits plus a constant, as TFRecord stores checksums.</summary>
    public static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }

    /// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: records are small and few.</summary>
    private static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
            }
        }
        return ~crc;
    }
}
