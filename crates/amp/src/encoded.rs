//! Encoded remote-write requests, worked on without decoding them.
//!
//! A durable queue stores scrapes as protobuf `WriteRequest` bytes, and concatenated
//! `WriteRequest` encodings are themselves a valid `WriteRequest` (field 1 repeated). The
//! sender still wants samples of one series grouped under one label set (labels are most
//! of a request's bytes), which [`merge`] does by moving byte slices: no label becomes a
//! `String`, nothing is allocated per label. The result is byte for byte what decoding,
//! grouping in arrival order and `prost` encoding gives (`encode(merge(decode(x)))`), as
//! the tests check; samples of a series stay in timestamp order.
//!
//! Only `prost`'s canonical field order is handled (a series' labels before its
//! samples, as every encoder emits them); anything else is an [`Error::Decode`] and the
//! caller decodes the slow way.

use prost::bytes::Buf;
use prost::encoding::{
    decode_key, decode_varint, encode_key, encode_varint, encoded_len_varint, key_len, WireType,
};
use prost::Message;
use rustc_hash::FxHashMap;

use crate::proto::{Sample, WriteRequest};
use crate::Error;

/// An encoded (uncompressed) `WriteRequest` and the number of samples in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoded {
    /// Protobuf `WriteRequest` bytes (not snappy-compressed).
    pub bytes: Vec<u8>,
    /// Samples in it.
    pub samples: usize,
}

impl Encoded {
    /// Decodes it (for the rare paths that need the series, e.g. splitting on HTTP 413).
    ///
    /// # Errors
    /// [`Error::Decode`] when the bytes are not a `WriteRequest`.
    pub fn decode(&self) -> Result<WriteRequest, Error> {
        WriteRequest::decode(self.bytes.as_slice()).map_err(|e| Error::Decode(e.to_string()))
    }

    /// Snappy block compression, as the remote-write spec requires.
    pub fn compress(&self) -> Vec<u8> {
        crate::proto::snappy(&self.bytes)
    }
}

/// One series of an encoded request: its label fields (one contiguous slice, keys
/// included) and its sample fields (key, length and `Sample` message each), which follow
/// the labels and so are one contiguous slice too — nothing is allocated per series.
struct SeriesFields<'a> {
    labels: &'a [u8],
    samples: &'a [u8],
    count: usize,
}

fn bad(what: &str) -> Error {
    Error::Decode(format!("encoded WriteRequest: {what}"))
}

/// Takes one field's bytes (after its key) off `buf`.
fn skip(wire: WireType, buf: &mut &[u8]) -> Result<(), Error> {
    let n = match wire {
        WireType::Varint => {
            decode_varint(buf).map_err(|e| bad(&e.to_string()))?;
            0
        }
        WireType::SixtyFourBit => 8,
        WireType::ThirtyTwoBit => 4,
        WireType::LengthDelimited => decode_varint(buf).map_err(|e| bad(&e.to_string()))? as usize,
        WireType::StartGroup | WireType::EndGroup => return Err(bad("group field")),
    };
    if buf.remaining() < n {
        return Err(bad("truncated field"));
    }
    buf.advance(n);
    Ok(())
}

/// A key byte of a length-delimited field with a number below 16 — every field of
/// `WriteRequest.timeseries`, `TimeSeries.labels` and `TimeSeries.samples`, as `prost`
/// writes them (`number << 3 | 2`).
const fn delimited_key(field: u8) -> u8 {
    field << 3 | 2
}

/// A length prefix (a varint), and how many bytes it took.
fn length(buf: &[u8]) -> Result<(usize, usize), Error> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().take(10).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            let v = usize::try_from(v).map_err(|_| bad("length out of range"))?;
            return Ok((v, i + 1));
        }
    }
    Err(bad("invalid length"))
}

/// The length-delimited field whose one-byte key is at `buf[pos]`: (its body's start,
/// its end). The hot loops below walk records with this instead of `prost`'s general
/// key and varint decoding (`bench/callgrind.sh`).
#[inline]
fn delimited(buf: &[u8], pos: usize) -> Result<(usize, usize), Error> {
    let (len, n) = match buf.get(pos + 1) {
        // Labels and samples are shorter than 128 bytes: a one-byte length.
        Some(&b) if b < 0x80 => (usize::from(b), 1),
        _ => length(buf.get(pos + 1..).unwrap_or_default())?,
    };
    let body = pos + 1 + n;
    let end = body
        .checked_add(len)
        .filter(|&e| e <= buf.len())
        .ok_or_else(|| bad("truncated field"))?;
    Ok((body, end))
}

/// Calls `each` with every `TimeSeries` of the request `buf`: the whole field (key and
/// length included) and the message body inside it. Other fields are skipped.
fn for_each_series<'a>(
    buf: &'a [u8],
    mut each: impl FnMut(&'a [u8], &'a [u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut pos = 0;
    while pos < buf.len() {
        if buf[pos] == delimited_key(1) {
            let (body, end) = delimited(buf, pos)?;
            each(&buf[pos..end], &buf[body..end])?;
            pos = end;
            continue;
        }
        let mut rest = &buf[pos..];
        let (_, wire) = decode_key(&mut rest).map_err(|e| bad(&e.to_string()))?;
        skip(wire, &mut rest)?;
        pos = buf.len() - rest.len();
    }
    Ok(())
}

/// Splits one `TimeSeries` body into its label span and sample span.
fn series_fields(body: &[u8]) -> Result<SeriesFields<'_>, Error> {
    let (mut pos, mut labels_end, mut count) = (0, 0, 0);
    while pos < body.len() {
        let key = body[pos];
        let (_, end) = delimited(body, pos)?;
        match key {
            k if k == delimited_key(1) && count == 0 && pos == labels_end => labels_end = end,
            k if k == delimited_key(1) => return Err(bad("a label after a sample")),
            k if k == delimited_key(2) => count += 1,
            _ => return Err(bad("unknown TimeSeries field")),
        }
        pos = end;
    }
    Ok(SeriesFields {
        labels: &body[..labels_end],
        samples: &body[labels_end..],
        count,
    })
}

/// The sample fields of a sample span [`series_fields`] has already checked.
fn sample_fields(span: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= span.len() {
            return None; // (not through `delimited`, whose error allocates a message)
        }
        let (_, end) = delimited(span, pos).ok()?;
        let field = &span[pos..end];
        pos = end;
        Some(field)
    })
}

/// The timestamp of an encoded sample field (key, length, `Sample`). `prost` writes a
/// `Sample` as an optional double (key 0x09) and an optional varint (key 0x10), which
/// are read in place; anything else is decoded by `prost`.
fn timestamp(field: &[u8]) -> i64 {
    let Ok((start, end)) = delimited(field, 0) else {
        return 0;
    };
    let body = &field[start..end];
    let (mut pos, mut ts) = (0, 0);
    while pos < body.len() {
        match body[pos] {
            0x09 if pos + 9 <= body.len() => pos += 9,
            0x10 => {
                let mut rest = &body[pos + 1..];
                let Ok(v) = decode_varint(&mut rest) else {
                    break;
                };
                ts = v as i64;
                pos = body.len() - rest.len();
            }
            _ => break,
        }
    }
    if pos == body.len() {
        return ts;
    }
    Sample::decode(body)
        .map(|s| s.timestamp)
        .unwrap_or_default()
}

/// Samples in an encoded `WriteRequest`, without decoding labels.
///
/// # Errors
/// [`Error::Decode`] when `buf` is not a `WriteRequest` in canonical field order.
pub fn count_samples(buf: &[u8]) -> Result<usize, Error> {
    let mut n = 0;
    for_each_series(buf, |_, body| {
        n += series_fields(body)?.count;
        Ok(())
    })?;
    Ok(n)
}

/// Groups the samples of an encoded `WriteRequest` (e.g. several queue records laid end
/// to end) by series, in order of first appearance, each series' samples in arrival order
/// (sorted by timestamp if they were not), and encodes the result.
///
/// # Errors
/// [`Error::Decode`] when `buf` is not a `WriteRequest` in canonical field order.
pub fn merge(buf: &[u8]) -> Result<Encoded, Error> {
    /// A series' sample spans in arrival order: the first two inline (`second` empty
    /// until seen), so a series seen once or twice (every series of a batch of one or two
    /// scrapes) allocates nothing.
    struct Group<'a> {
        labels: &'a [u8],
        first: &'a [u8],
        second: &'a [u8],
        more: Vec<&'a [u8]>,
        len: usize,
    }
    // Sized for series of ≈ 128 encoded bytes (node_exporter's are 150–250): no rehash.
    let guess = buf.len() / 128;
    let mut index: FxHashMap<&[u8], usize> =
        FxHashMap::with_capacity_and_hasher(guess, Default::default());
    let mut groups: Vec<Group<'_>> = Vec::with_capacity(guess);
    let mut samples = 0;
    for_each_series(buf, |_, body| {
        let s = series_fields(body)?;
        samples += s.count;
        match index.get(s.labels) {
            Some(&i) => {
                let g = &mut groups[i];
                if g.second.is_empty() {
                    g.second = s.samples;
                } else {
                    g.more.push(s.samples);
                }
                g.len += s.count;
            }
            None => {
                index.insert(s.labels, groups.len());
                groups.push(Group {
                    labels: s.labels,
                    first: s.samples,
                    second: &[],
                    more: Vec::new(),
                    len: s.count,
                });
            }
        }
        Ok(())
    })?;
    let mut bytes = Vec::with_capacity(buf.len());
    for g in &groups {
        let spans = || {
            [g.first, g.second]
                .into_iter()
                .chain(g.more.iter().copied())
        };
        let len = g.labels.len() + spans().map(<[u8]>::len).sum::<usize>();
        encode_key(1, WireType::LengthDelimited, &mut bytes);
        encode_varint(len as u64, &mut bytes);
        bytes.extend_from_slice(g.labels);
        let fields = || spans().flat_map(sample_fields);
        let ordered = g.len < 2 || {
            let mut ts = fields().map(timestamp);
            let mut prev = ts.next().unwrap_or_default();
            ts.all(|t| std::mem::replace(&mut prev, t) <= t)
        };
        if ordered {
            spans().for_each(|span| bytes.extend_from_slice(span));
        } else {
            let mut sorted: Vec<&[u8]> = fields().collect();
            sorted.sort_by_key(|f| timestamp(f));
            sorted.iter().for_each(|f| bytes.extend_from_slice(f));
        }
    }
    Ok(Encoded { bytes, samples })
}

/// Splits an encoded `WriteRequest` at series boundaries into pieces of at most
/// `max_samples` samples each (a series holding more makes a piece of its own), each piece
/// itself an encoded `WriteRequest`, with its sample count.
///
/// # Errors
/// [`Error::Decode`] when `buf` is not a `WriteRequest` in canonical field order.
pub fn pieces(buf: &[u8], max_samples: usize) -> Result<Vec<(&[u8], usize)>, Error> {
    let max = max_samples.max(1);
    let mut out: Vec<(&[u8], usize)> = Vec::new();
    let (mut start, mut end, mut n) = (0usize, 0usize, 0usize);
    for_each_series(buf, |field, body| {
        let k = series_fields(body)?.count;
        let at = field.as_ptr() as usize - buf.as_ptr() as usize;
        if n > 0 && n + k > max {
            out.push((&buf[start..end], n));
            (start, n) = (at, 0);
        }
        end = at + field.len();
        n += k;
        Ok(())
    })?;
    if n > 0 {
        out.push((&buf[start..end], n));
    }
    Ok(out)
}

/// Appends the encoded label fields (`TimeSeries` field 1, repeated) of `labels`, given as
/// sorted name/value pairs, exactly as `prost` encodes them (empty strings omitted, as
/// proto3 does). Cached per series, this is what [`push_series`] copies for every sample.
pub fn encode_label_pairs<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    out: &mut Vec<u8>,
) {
    for (name, value) in labels {
        let field = |tag: u32, s: &str| {
            if s.is_empty() {
                0
            } else {
                key_len(tag) + encoded_len_varint(s.len() as u64) + s.len()
            }
        };
        encode_key(1, WireType::LengthDelimited, out);
        encode_varint((field(1, name) + field(2, value)) as u64, out);
        for (tag, s) in [(1, name), (2, value)] {
            if !s.is_empty() {
                encode_key(tag, WireType::LengthDelimited, out);
                encode_varint(s.len() as u64, out);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
}

/// Appends to the encoded `WriteRequest` `out` one series of one sample: `labels` are its
/// encoded label fields ([`encode_label_pairs`]).
pub fn push_series(out: &mut Vec<u8>, labels: &[u8], sample: &Sample) {
    let s_len = sample.encoded_len();
    let sample_field = key_len(2) + encoded_len_varint(s_len as u64) + s_len;
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint((labels.len() + sample_field) as u64, out);
    out.extend_from_slice(labels);
    prost::encoding::message::encode(2, sample, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Label, TimeSeries};

    fn ts(name: &str, host: &str, samples: &[(f64, i64)]) -> TimeSeries {
        TimeSeries {
            labels: vec![Label::new("__name__", name), Label::new("host", host)],
            samples: samples
                .iter()
                .map(|&(value, timestamp)| Sample { value, timestamp })
                .collect(),
        }
    }

    fn enc(series: Vec<TimeSeries>) -> Vec<u8> {
        WriteRequest { timeseries: series }.encode_to_vec()
    }

    /// The slow way: decode, group by label set in order of appearance, sort, encode.
    fn reference(buf: &[u8]) -> Vec<u8> {
        let req = WriteRequest::decode(buf).unwrap();
        let mut out: Vec<TimeSeries> = Vec::new();
        for t in req.timeseries {
            match out.iter_mut().find(|o| o.labels == t.labels) {
                Some(o) => o.samples.extend(t.samples),
                None => out.push(t),
            }
        }
        for t in &mut out {
            t.samples.sort_by_key(|s| s.timestamp);
        }
        enc(out)
    }

    #[test]
    fn merges_records_laid_end_to_end_like_decoding_would() {
        // Two scrapes, each a record, concatenated as the queue reads them; zero values
        // and timestamps (omitted on the wire), a stale NaN and an out-of-order pair.
        let mut buf = enc(vec![
            ts("up", "a", &[(1.0, 1000)]),
            ts("cpu", "a", &[(0.0, 0)]),
            ts(
                "mem",
                "a",
                &[(f64::from_bits(crate::proto::STALE_NAN_BITS), 1000)],
            ),
        ]);
        buf.extend(enc(vec![
            ts("up", "a", &[(1.0, 2000)]),
            ts("cpu", "a", &[(0.5, 2000)]),
            ts("cpu", "b", &[(2.0, 2000)]),
            ts("mem", "a", &[(3.0, 500)]),
        ]));
        let merged = merge(&buf).unwrap();
        assert_eq!(merged.samples, 7);
        assert_eq!(merged.bytes, reference(&buf));
        let req = merged.decode().unwrap();
        assert_eq!(req.timeseries.len(), 4);
        assert_eq!(req.timeseries[2].samples[0].timestamp, 500, "sorted");
        assert_eq!(count_samples(&buf).unwrap(), 7);
        assert_eq!(merge(&[]).unwrap(), Encoded::default());
    }

    #[test]
    fn garbage_and_non_canonical_order_are_errors_not_guesses() {
        assert!(merge(&[0x0a, 0x05, 0x01]).is_err(), "truncated");
        // A TimeSeries whose label comes after its sample.
        let label = Label::new("__name__", "x").encode_to_vec();
        let sample = Sample {
            value: 1.0,
            timestamp: 1,
        }
        .encode_to_vec();
        let mut body = Vec::new();
        encode_key(2, WireType::LengthDelimited, &mut body);
        encode_varint(sample.len() as u64, &mut body);
        body.extend(&sample);
        encode_key(1, WireType::LengthDelimited, &mut body);
        encode_varint(label.len() as u64, &mut body);
        body.extend(&label);
        let mut req = Vec::new();
        encode_key(1, WireType::LengthDelimited, &mut req);
        encode_varint(body.len() as u64, &mut req);
        req.extend(&body);
        assert!(
            WriteRequest::decode(req.as_slice()).is_ok(),
            "valid protobuf"
        );
        assert!(merge(&req).is_err());
    }

    proptest::proptest! {
        /// Any sequence of single- and multi-sample series over a few label sets merges
        /// exactly as decoding and re-encoding would.
        #[test]
        fn merge_equals_decode_group_encode(
            items in proptest::collection::vec(
                (0usize..4, 0usize..3, proptest::collection::vec((-5i8..5, 0i64..50), 1..3)),
                0..40,
            ),
            cut in 0usize..40,
        ) {
            let names = ["up", "cpu", "node_memory_MemAvailable_bytes", "x"];
            let hosts = ["a", "b", ""];
            let series: Vec<TimeSeries> = items
                .iter()
                .map(|(n, h, s)| {
                    let s: Vec<(f64, i64)> = s.iter().map(|&(v, t)| (f64::from(v), t)).collect();
                    ts(names[*n], hosts[*h], &s)
                })
                .collect();
            let cut = cut.min(series.len());
            let mut buf = enc(series[..cut].to_vec());
            buf.extend(enc(series[cut..].to_vec()));
            let total: usize = series.iter().map(|t| t.samples.len()).sum();
            let merged = merge(&buf).unwrap();
            proptest::prop_assert_eq!(merged.samples, total);
            proptest::prop_assert_eq!(count_samples(&buf).unwrap(), total);
            proptest::prop_assert_eq!(merged.bytes, reference(&buf));
        }
    }

    /// The in-place timestamp read agrees with `prost` on every shape a `Sample` field
    /// takes: either field absent (proto3 defaults), negative (ten-byte varints), a field
    /// repeated (the last wins) or unknown (left to `prost`).
    #[test]
    fn timestamp_read_in_place_agrees_with_prost() {
        let field = |body: &[u8]| {
            let mut f = Vec::new();
            encode_key(2, WireType::LengthDelimited, &mut f);
            encode_varint(body.len() as u64, &mut f);
            f.extend_from_slice(body);
            f
        };
        for (value, t) in [
            (0.0, 0),
            (1.5, 0),
            (0.0, 7),
            (2.5, -1),
            (f64::NAN, i64::MIN),
            (3.0, i64::MAX),
        ] {
            let body = Sample {
                value,
                timestamp: t,
            }
            .encode_to_vec();
            assert_eq!(timestamp(&field(&body)), t, "{value} {t}");
        }
        let mut twice = Sample {
            value: 1.0,
            timestamp: 5,
        }
        .encode_to_vec();
        twice.extend(
            Sample {
                value: 0.0,
                timestamp: 9,
            }
            .encode_to_vec(),
        );
        assert_eq!(timestamp(&field(&twice)), 9);
        // Field 3 (unknown) before the timestamp: prost skips it.
        let mut unknown = vec![0x18, 0x01];
        unknown.extend(
            Sample {
                value: 1.0,
                timestamp: 11,
            }
            .encode_to_vec(),
        );
        assert_eq!(timestamp(&field(&unknown)), 11);
        assert_eq!(timestamp(&[0x12]), 0, "truncated");
    }

    proptest::proptest! {
        /// Series written one sample at a time from label pairs are byte for byte what
        /// prost writes for the same `WriteRequest`; pieces cut at series boundaries put
        /// back together give the request again.
        #[test]
        fn push_series_equals_prost_and_pieces_reassemble(
            items in proptest::collection::vec(
                (proptest::collection::vec(("[a-c_]{0,3}", "[x-z]{0,3}"), 0..4), -3i8..3, 0i64..3),
                0..20,
            ),
            max in 1usize..5,
        ) {
            let mut out = Vec::new();
            let mut series = Vec::new();
            for (labels, v, t) in &items {
                let sample = Sample { value: f64::from(*v), timestamp: *t };
                let mut enc = Vec::new();
                encode_label_pairs(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())), &mut enc);
                push_series(&mut out, &enc, &sample);
                series.push(TimeSeries {
                    labels: labels.iter().map(|(n, v)| Label::new(n.as_str(), v.as_str())).collect(),
                    samples: vec![sample],
                });
            }
            proptest::prop_assert_eq!(&out, &enc(series));
            let parts = pieces(&out, max).unwrap();
            proptest::prop_assert!(parts.iter().all(|(_, n)| *n <= max && *n > 0));
            proptest::prop_assert_eq!(parts.iter().map(|(_, n)| n).sum::<usize>(), items.len());
            let joined: Vec<u8> = parts.iter().flat_map(|(p, _)| p.iter().copied()).collect();
            proptest::prop_assert_eq!(joined, out);
        }
    }
}
