//! Prometheus remote-write 1.0 protobuf messages (`prometheus.WriteRequest`).
//!
//! Hand-declared with `prost` derives instead of generated from `.proto` files, so the
//! build needs no `protoc`. Field numbers follow the remote-write spec; fields 2 and 3 of
//! `WriteRequest` (metadata) are reserved in 1.0 and not sent.

/// A remote-write request: a list of time series.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series, each with its labels and samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// One series: its sorted label set and samples in increasing timestamp order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels sorted by name, `__name__` included.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples in increasing timestamp order.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// A label name/value pair.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value (never empty on the wire).
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A sample: value and timestamp in milliseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    /// The value (may be NaN; the staleness marker is [`STALE_NAN`]).
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Prometheus' staleness marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The staleness marker value (`f64::from_bits(STALE_NAN_BITS)`).
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True when `v` is the staleness marker (compared by bits: NaN != NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

impl Label {
    /// Builds a label.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl WriteRequest {
    /// Total number of samples in the request.
    pub fn sample_count(&self) -> usize {
        self.timeseries.iter().map(|t| t.samples.len()).sum()
    }

    /// Protobuf-encodes then snappy-compresses (block format, as the spec requires).
    pub fn encode_compressed(&self) -> Vec<u8> {
        snappy(&prost::Message::encode_to_vec(self))
    }

    /// Inverse of [`WriteRequest::encode_compressed`] (used by tests and receivers).
    pub fn decode_compressed(body: &[u8]) -> Result<WriteRequest, crate::Error> {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(body)
            .map_err(|e| crate::Error::Decode(e.to_string()))?;
        <WriteRequest as prost::Message>::decode(raw.as_slice())
            .map_err(|e| crate::Error::Decode(e.to_string()))
    }

    /// Splits into two non-empty halves, preserving series order and per-series sample
    /// order. Returns `None` when the request holds a single sample (cannot split).
    pub fn split(self) -> Option<(WriteRequest, WriteRequest)> {
        let n = self.timeseries.len();
        if n >= 2 {
            let mut a = self.timeseries;
            let b = a.split_off(n / 2);
            return Some((
                WriteRequest { timeseries: a },
                WriteRequest { timeseries: b },
            ));
        }
        let ts = self.timeseries.into_iter().next()?;
        if ts.samples.len() < 2 {
            return None;
        }
        let mut s1 = ts.samples;
        let s2 = s1.split_off(s1.len() / 2);
        Some((
            WriteRequest {
                timeseries: vec![TimeSeries {
                    labels: ts.labels.clone(),
                    samples: s1,
                }],
            },
            WriteRequest {
                timeseries: vec![TimeSeries {
                    labels: ts.labels,
                    samples: s2,
                }],
            },
        ))
    }
}

thread_local! {
    /// One snappy encoder per thread: its hash table is allocated once, not per request.
    static SNAPPY: std::cell::RefCell<snap::raw::Encoder> =
        std::cell::RefCell::new(snap::raw::Encoder::new());
}

/// Snappy block compression (the block format, as the remote-write spec requires; the
/// framed format would be rejected by receivers).
pub(crate) fn snappy(raw: &[u8]) -> Vec<u8> {
    SNAPPY.with(|e| e.borrow_mut().compress_vec(raw).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, n: usize) -> TimeSeries {
        TimeSeries {
            labels: vec![Label::new("__name__", name)],
            samples: (0..n)
                .map(|i| Sample {
                    value: i as f64,
                    timestamp: i as i64,
                })
                .collect(),
        }
    }

    #[test]
    fn roundtrip_snappy_block() {
        let req = WriteRequest {
            timeseries: vec![series("a", 3), series("b", 1)],
        };
        let body = req.encode_compressed();
        // Block format starts with the uncompressed length varint, never the framed
        // stream identifier chunk (0xff 0x06 0x00 0x00 "sNaPpY").
        assert_ne!(body[0], 0xff);
        assert_eq!(WriteRequest::decode_compressed(&body).unwrap(), req);
    }

    #[test]
    fn stale_nan_bits_survive_encoding() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label::new("__name__", "x")],
                samples: vec![Sample {
                    value: STALE_NAN,
                    timestamp: 1,
                }],
            }],
        };
        let back = WriteRequest::decode_compressed(&req.encode_compressed()).unwrap();
        assert!(is_stale_nan(back.timeseries[0].samples[0].value));
        assert!(!is_stale_nan(f64::NAN));
    }

    #[test]
    fn split_by_series_then_by_samples() {
        let req = WriteRequest {
            timeseries: vec![series("a", 2), series("b", 2), series("c", 2)],
        };
        let (x, y) = req.split().unwrap();
        assert_eq!(x.timeseries.len(), 1);
        assert_eq!(y.timeseries.len(), 2);
        let (p, q) = x.split().unwrap();
        assert_eq!(p.timeseries[0].samples[0].timestamp, 0);
        assert_eq!(q.timeseries[0].samples[0].timestamp, 1);
        assert!(p.split().is_none());
    }
}
