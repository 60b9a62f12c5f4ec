//! Dense vectors: an exact scan over int8-quantized vectors (one scale per vector), behind a
//! trait so that an approximate index can take over for large knowledge bases. The predicate
//! is applied in the scan: a vector the caller may not read is never scored.

/// A vector index over chunk slots.
pub trait VectorIndex: Send + Sync {
    /// Adds (or replaces) the vector of `slot`.
    fn insert(&mut self, slot: u32, vector: &[f32]);
    /// Forgets `slot`.
    fn remove(&mut self, slot: u32);
    /// The `k` slots `allow` admits closest to `query` by cosine similarity (vectors are unit
    /// length), best first.
    fn search(&self, query: &[f32], k: usize, allow: &dyn Fn(u32) -> bool) -> Vec<(u32, f32)>;
    fn dims(&self) -> usize;
}

/// Exact search over int8 codes: `v ≈ scale · code`, `scale = max|v| / 127`. Made with
/// `dims = 0`, it takes the width of the first vector inserted.
pub struct ExactQ8 {
    dims: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

impl ExactQ8 {
    pub fn new(dims: usize) -> Self {
        Self {
            dims,
            codes: Vec::new(),
            scales: Vec::new(),
        }
    }
}

/// A vector's int8 codes and scale.
pub fn quantize(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / 127.0;
    let codes = v
        .iter()
        .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (codes, scale)
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // Written so that the compiler vectorizes it (widening multiply-add).
    let mut acc = [0i32; 16];
    let chunks = a.len() / 16;
    for c in 0..chunks {
        let (x, y) = (&a[c * 16..c * 16 + 16], &b[c * 16..c * 16 + 16]);
        for i in 0..16 {
            acc[i] += i32::from(x[i]) * i32::from(y[i]);
        }
    }
    let mut s: i32 = acc.iter().sum();
    for i in chunks * 16..a.len() {
        s += i32::from(a[i]) * i32::from(b[i]);
    }
    s
}

impl VectorIndex for ExactQ8 {
    fn insert(&mut self, slot: u32, vector: &[f32]) {
        if self.dims == 0 {
            // An index made before its first vector takes that vector's width.
            self.dims = vector.len();
        }
        let i = slot as usize;
        if self.scales.len() <= i {
            self.scales.resize(i + 1, 0.0);
            self.codes.resize((i + 1) * self.dims, 0);
        }
        let (codes, scale) = quantize(&vector[..self.dims.min(vector.len())]);
        self.codes[i * self.dims..i * self.dims + codes.len()].copy_from_slice(&codes);
        self.scales[i] = scale;
    }

    fn remove(&mut self, slot: u32) {
        if let Some(s) = self.scales.get_mut(slot as usize) {
            *s = 0.0;
        }
    }

    fn search(&self, query: &[f32], k: usize, allow: &dyn Fn(u32) -> bool) -> Vec<(u32, f32)> {
        if query.len() != self.dims || k == 0 {
            return Vec::new();
        }
        let (q, qs) = quantize(query);
        let mut top = crate::TopK::new(k);
        for (i, &scale) in self.scales.iter().enumerate() {
            if scale == 0.0 || !allow(i as u32) {
                continue;
            }
            let codes = &self.codes[i * self.dims..(i + 1) * self.dims];
            let s = dot_i8(codes, &q) as f32 * scale * qs;
            top.push(i as u32, s);
        }
        top.into_sorted()
    }

    fn dims(&self) -> usize {
        self.dims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_first_and_predicate_applied() {
        let mut ix = ExactQ8::new(3);
        ix.insert(0, &[1.0, 0.0, 0.0]);
        ix.insert(1, &[0.0, 1.0, 0.0]);
        ix.insert(2, &[0.8, 0.6, 0.0]);
        let r = ix.search(&[1.0, 0.0, 0.0], 2, &|_| true);
        assert_eq!(r.iter().map(|x| x.0).collect::<Vec<_>>(), [0, 2]);
        assert!((r[0].1 - 1.0).abs() < 0.02);
        let r = ix.search(&[1.0, 0.0, 0.0], 2, &|s| s != 0);
        assert_eq!(r.iter().map(|x| x.0).collect::<Vec<_>>(), [2, 1]);
        ix.remove(2);
        assert_eq!(ix.search(&[1.0, 0.0, 0.0], 5, &|_| true).len(), 2);
    }
}
