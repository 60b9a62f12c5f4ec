//! Opening untrusted GGUF files: parse the header with candle's parser behind
//! `catch_unwind`, then validate every field candle would trust blindly before a tensor is read.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::GgmlDType;
use serde::Serialize;

use crate::EngineError;

/// A GGUF header that has been parsed and checked: every tensor's shape, type and byte range fits
/// in the file, so reading a tensor cannot overflow or read past the end.
pub struct GgufFile {
    pub content: Content,
    pub file_size: u64,
}

/// What the model registry records about a model file, read from GGUF metadata.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelMetadata {
    pub architecture: String,
    pub name: Option<String>,
    pub parameter_count: u64,
    pub context_length: u64,
    pub quantization: String,
    pub license: Option<String>,
    pub tensor_count: usize,
}

impl GgufFile {
    /// Open and validate a GGUF file. Never panics, whatever the file holds.
    pub fn open(path: &Path) -> Result<Self, EngineError> {
        let file = File::open(path)
            .map_err(|e| EngineError::Io(format!("cannot open {}: {e}", path.display())))?;
        let mut reader = BufReader::new(file);
        let file_size = reader
            .seek(SeekFrom::End(0))
            .and_then(|n| reader.seek(SeekFrom::Start(0)).map(|_| n))
            .map_err(|e| EngineError::Io(format!("cannot read {}: {e}", path.display())))?;
        // candle's parser is safe Rust but panics on some crafted headers (alignment 0); a model
        // file must never take the process down, so a panic becomes an error.
        let content = catch_unwind(AssertUnwindSafe(|| Content::read(&mut reader)))
            .map_err(|_| EngineError::InvalidModel("malformed GGUF header".into()))?
            .map_err(|e| EngineError::InvalidModel(format!("not a valid GGUF file: {e}")))?;
        let file = Self { content, file_size };
        file.validate()?;
        Ok(file)
    }

    fn validate(&self) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::InvalidModel(m));
        if let Some(v) = self.content.metadata.get("general.alignment") {
            match v.to_u32() {
                Ok(a) if a > 0 && a.is_power_of_two() => {}
                _ => return bad("general.alignment must be a positive power of two".into()),
            }
        }
        if self.content.tensor_data_offset > self.file_size {
            return bad("tensor data starts past the end of the file".into());
        }
        let data_len = self.file_size - self.content.tensor_data_offset;
        for (name, info) in &self.content.tensor_infos {
            let mut elems: usize = 1;
            for &d in info.shape.dims() {
                elems = match elems.checked_mul(d) {
                    Some(n) => n,
                    None => return bad(format!("tensor {name}: dimensions overflow")),
                };
            }
            let block = info.ggml_dtype.block_size();
            if block == 0 || !elems.is_multiple_of(block) {
                return bad(format!(
                    "tensor {name}: {elems} elements is not a multiple of the block size {block}"
                ));
            }
            let bytes = (elems / block)
                .checked_mul(info.ggml_dtype.type_size())
                .and_then(|b| (b as u64).checked_add(info.offset));
            match bytes {
                Some(end) if end <= data_len => {}
                _ => return bad(format!("tensor {name}: data lies outside the file")),
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(value_u64)
    }

    pub fn architecture(&self) -> Result<&str, EngineError> {
        self.get_str("general.architecture")
            .ok_or_else(|| EngineError::InvalidModel("missing general.architecture".into()))
    }

    /// Read the registry metadata of the file.
    pub fn metadata(&self) -> Result<ModelMetadata, EngineError> {
        let architecture = self.architecture()?.to_string();
        let parameter_count = self
            .content
            .tensor_infos
            .values()
            .map(|t| t.shape.elem_count() as u64)
            .sum();
        let context_length = self
            .get_u64(&format!("{architecture}.context_length"))
            .unwrap_or(0);
        Ok(ModelMetadata {
            name: self.get_str("general.name").map(str::to_string),
            license: self.get_str("general.license").map(str::to_string),
            quantization: self.quantization(),
            parameter_count,
            context_length,
            tensor_count: self.content.tensor_infos.len(),
            architecture,
        })
    }

    /// The file's quantization, named as llama.cpp names file types: the type of most weights.
    fn quantization(&self) -> String {
        let mut counts: HashMap<String, u64> = HashMap::new();
        for info in self.content.tensor_infos.values() {
            if info.shape.rank() >= 2 {
                *counts.entry(dtype_name(info.ggml_dtype)).or_default() +=
                    info.shape.elem_count() as u64;
            }
        }
        counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|(k, _)| k)
            .unwrap_or_else(|| "unknown".into())
    }
}

fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::U8(x) => Some(u64::from(*x)),
        Value::U16(x) => Some(u64::from(*x)),
        Value::U32(x) => Some(u64::from(*x)),
        Value::U64(x) => Some(*x),
        Value::I8(x) => u64::try_from(*x).ok(),
        Value::I16(x) => u64::try_from(*x).ok(),
        Value::I32(x) => u64::try_from(*x).ok(),
        Value::I64(x) => u64::try_from(*x).ok(),
        _ => None,
    }
}

pub fn dtype_name(t: GgmlDType) -> String {
    format!("{t:?}").to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gguf_header(
        kvs: &[(&str, u32, Vec<u8>)],
        tensors: &[(&str, Vec<u64>, u32, u64)],
    ) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        b.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
        for (k, ty, val) in kvs {
            b.extend_from_slice(&(k.len() as u64).to_le_bytes());
            b.extend_from_slice(k.as_bytes());
            b.extend_from_slice(&ty.to_le_bytes());
            b.extend_from_slice(val);
        }
        for (name, dims, ty, off) in tensors {
            b.extend_from_slice(&(name.len() as u64).to_le_bytes());
            b.extend_from_slice(name.as_bytes());
            b.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&ty.to_le_bytes());
            b.extend_from_slice(&off.to_le_bytes());
        }
        b.resize(b.len() + 64, 0);
        b
    }

    fn open_bytes(bytes: &[u8]) -> Result<GgufFile, EngineError> {
        let mut f = tempfile::NamedTempFile::new().map_err(|e| EngineError::Io(e.to_string()))?;
        f.write_all(bytes)
            .map_err(|e| EngineError::Io(e.to_string()))?;
        GgufFile::open(f.path())
    }

    #[test]
    fn regression_alignment_zero_is_an_error_not_a_panic() {
        let bytes = gguf_header(
            &[("general.alignment", 4, 0u32.to_le_bytes().to_vec())],
            &[],
        );
        let err = open_bytes(&bytes)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("GGUF"), "got: {err}");
    }

    #[test]
    fn regression_overflowing_dimensions_are_refused() {
        let dims = vec![u64::MAX / 2, 4, 4];
        let bytes = gguf_header(&[], &[("t", dims, 0, 0)]);
        let err = open_bytes(&bytes)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("overflow") || err.contains("GGUF"),
            "got: {err}"
        );
    }

    #[test]
    fn tensor_past_end_of_file_is_refused() {
        // A 32x32 f32 tensor needs 4 KiB; the file has 64 bytes of data.
        let bytes = gguf_header(&[], &[("t", vec![32, 32], 0, 0)]);
        let err = open_bytes(&bytes)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("outside the file"), "got: {err}");
    }

    #[test]
    fn garbage_is_refused() {
        for bytes in [&b""[..], b"GGUF", b"not a model at all", &[0xff; 100]] {
            assert!(open_bytes(bytes).is_err());
        }
    }
}
