//! A reader for the safetensors format (an 8-byte little-endian header length, a JSON header
//! naming each tensor's dtype, shape and byte range, then the data). The header is validated
//! whole before any tensor is read: every range must lie inside the data, match its shape and
//! dtype, and not overlap another, so a crafted file is refused with an error, never a panic.

use std::collections::BTreeMap;
use std::path::Path;

use half::{bf16, f16};

use crate::EngineError;

/// Largest header accepted (the format's own limit is 100 MB).
const MAX_HEADER: u64 = 100 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F32,
    F16,
    BF16,
    /// Kept only so that files holding integer buffers (BERT's `position_ids`) open; such
    /// tensors cannot be read as weights.
    Other(usize),
}

impl Dtype {
    fn parse(s: &str) -> Result<Dtype, EngineError> {
        Ok(match s {
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "I64" | "U64" | "F64" => Dtype::Other(8),
            "I32" | "U32" => Dtype::Other(4),
            "I16" | "U16" => Dtype::Other(2),
            "I8" | "U8" | "BOOL" => Dtype::Other(1),
            other => return Err(bad(format!("unsupported dtype {other:?}"))),
        })
    }

    fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::Other(n) => n,
        }
    }
}

struct Entry {
    dtype: Dtype,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// A safetensors file read into memory, its header validated.
pub struct SafeTensors {
    data: Vec<u8>,
    /// Offset of the data section in `data`.
    base: usize,
    tensors: BTreeMap<String, Entry>,
}

fn bad(msg: String) -> EngineError {
    EngineError::InvalidModel(format!("safetensors: {msg}"))
}

impl SafeTensors {
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let data =
            std::fs::read(path).map_err(|e| EngineError::Io(format!("{}: {e}", path.display())))?;
        Self::from_bytes(data)
    }

    pub fn from_bytes(data: Vec<u8>) -> Result<Self, EngineError> {
        let head: [u8; 8] = data
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("the file is shorter than its header length".into()))?;
        let len = u64::from_le_bytes(head);
        if len > MAX_HEADER || len as usize > data.len() - 8 {
            return Err(bad(format!(
                "a header of {len} bytes does not fit the file"
            )));
        }
        let base = 8 + len as usize;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&data[8..base])
                .map_err(|e| bad(format!("the header is not a JSON object: {e}")))?;
        let size = data.len() - base;
        let mut tensors = BTreeMap::new();
        for (name, v) in header {
            if name == "__metadata__" {
                continue;
            }
            let dtype = v
                .get("dtype")
                .and_then(|d| d.as_str())
                .ok_or_else(|| bad(format!("tensor {name:?} has no dtype")))
                .and_then(Dtype::parse)?;
            let shape: Vec<usize> = v
                .get("shape")
                .and_then(|s| s.as_array())
                .ok_or_else(|| bad(format!("tensor {name:?} has no shape")))?
                .iter()
                .map(|d| d.as_u64().map(|d| d as usize))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("tensor {name:?} has a malformed shape")))?;
            let offsets: Vec<usize> = v
                .get("data_offsets")
                .and_then(|s| s.as_array())
                .map(|a| a.iter().filter_map(|d| d.as_u64()).map(|d| d as usize))
                .map(Iterator::collect)
                .unwrap_or_default();
            let [start, end] = offsets[..] else {
                return Err(bad(format!("tensor {name:?} has malformed data_offsets")));
            };
            let elems = shape
                .iter()
                .try_fold(1usize, |a, d| a.checked_mul(*d))
                .ok_or_else(|| bad(format!("tensor {name:?} is too large")))?;
            if start > end || end > size || Some(end - start) != elems.checked_mul(dtype.size()) {
                return Err(bad(format!(
                    "tensor {name:?}'s bytes do not match its shape or lie outside the file"
                )));
            }
            tensors.insert(
                name,
                Entry {
                    dtype,
                    shape,
                    start,
                    end,
                },
            );
        }
        let mut ranges: Vec<(usize, usize)> = tensors.values().map(|e| (e.start, e.end)).collect();
        ranges.sort_unstable();
        if ranges.windows(2).any(|w| w[1].0 < w[0].1) {
            return Err(bad("two tensors overlap".into()));
        }
        Ok(Self {
            data,
            base,
            tensors,
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The tensor `name` as f32 values, checked to have `shape`.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EngineError> {
        let e = self
            .tensors
            .get(name)
            .ok_or_else(|| bad(format!("the tensor {name:?} is missing")))?;
        if e.shape != shape {
            return Err(bad(format!(
                "the tensor {name:?} has shape {:?}, expected {shape:?}",
                e.shape
            )));
        }
        let raw = &self.data[self.base + e.start..self.base + e.end];
        Ok(match e.dtype {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::Other(_) => {
                return Err(bad(format!("the tensor {name:?} is not floating point")))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_f32_and_half_tensors() {
        let mut data = Vec::new();
        for v in [1.0f32, -2.5] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        data.extend_from_slice(&f16::from_f32(0.5).to_le_bytes());
        let h = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[1,1],"data_offsets":[8,10]}}"#;
        let st = SafeTensors::from_bytes(file(h, &data)).unwrap();
        assert_eq!(st.f32("a", &[2]).unwrap(), vec![1.0, -2.5]);
        assert_eq!(st.f32("b", &[1, 1]).unwrap(), vec![0.5]);
        assert!(st.f32("a", &[1, 2]).is_err());
        assert!(st.f32("c", &[1]).is_err());
    }

    #[test]
    fn crafted_headers_are_refused() {
        let cases = [
            r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}"#,
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}}"#,
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#,
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#,
            r#"{"a":{"dtype":"F32","shape":[18446744073709551615,2],"data_offsets":[0,8]}}"#,
            r#"{"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}}"#,
            r#"["not an object"]"#,
        ];
        for h in cases {
            assert!(SafeTensors::from_bytes(file(h, &[0u8; 8])).is_err(), "{h}");
        }
        assert!(SafeTensors::from_bytes(vec![0xff; 7]).is_err());
        let mut huge = u64::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(SafeTensors::from_bytes(huge).is_err());
    }
}
