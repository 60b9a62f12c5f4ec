//! The AVX2 + FMA kernel: the one place in the engine with `unsafe` code, because the x86
//! intrinsics are `unsafe` functions. Each block's 32 products are summed exactly in integers
//! (`vpmaddubsw` then `vpmaddwd`, giving the same eight lanes of four products as the portable
//! kernel), scaled and accumulated with `vfmadd` into eight f32 lanes, and reduced in the
//! portable kernel's order, so the results are bit-identical to it.
//!
//! Memory safety does not depend on the caller: every slice is checked for length before any
//! pointer is read, and loads are unaligned loads of exactly the bytes those checks cover.

use std::arch::x86_64::*;

use super::{QuantActs, QuantType, WeightRow, QK, TILE};

// One tile's rows are one vector of eight f32 lanes (the Q4_1 offsets).
const _: () = assert!(TILE == 8);

/// Proof that this CPU has AVX2 and FMA: only [`Token::detect`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token(());

impl Token {
    pub(super) fn detect() -> Option<Token> {
        (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"))
            .then_some(Token(()))
    }
}

/// Activation rows `r0..r0 + out.len()` (at most [`TILE`]) against one weight row.
/// Falls back to zeros if the slices do not have the sizes the kernel reads.
pub(super) fn tile(
    _cpu: Token,
    kind: QuantType,
    w: WeightRow<'_>,
    acts: &QuantActs,
    r0: usize,
    out: &mut [f32],
) {
    let nb = acts.k / QK;
    let rows = out.len();
    let sizes_fit = rows <= TILE
        && w.qs.len() == nb * kind.quant_bytes()
        && w.d.len() == nb
        && (kind != QuantType::Q4_1 || w.m.len() == nb)
        && acts.qs.len() >= (r0 + rows) * nb * QK
        && acts.d.len() >= (r0 + rows) * nb
        && acts.s_t.len() == acts.rows * nb
        && r0 + rows <= acts.rows;
    if !sizes_fit {
        out.fill(0.0);
        return;
    }
    // SAFETY: a `Token` exists only where AVX2 and FMA were detected, and `sizes_fit`
    // establishes every length `tile_inner` relies on (documented there).
    unsafe {
        match kind {
            QuantType::Q4_0 => tile_inner::<0>(w, acts, r0, out),
            QuantType::Q4_1 => tile_inner::<1>(w, acts, r0, out),
            QuantType::Q8_0 => tile_inner::<2>(w, acts, r0, out),
        }
    }
}

/// The eight lanes reduced in the portable kernel's order.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let lo = _mm256_castps256_ps128(v);
    let hi = _mm256_extractf128_ps(v, 1);
    let l = _mm_add_ps(lo, hi); // lanes 0+4, 1+5, 2+6, 3+7
    let h = _mm_add_ps(l, _mm_movehl_ps(l, l)); // (0+4)+(2+6), (1+5)+(3+7)
    _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)))
}

/// `KIND`: 0 = Q4_0, 1 = Q4_1, 2 = Q8_0.
///
/// # Safety
/// The CPU must support AVX2 and FMA. With `nb = acts.k / 32` and `t = out.len()`: `t <= 8`,
/// `w.qs` holds `nb` blocks of the kind's quant bytes, `w.d` (and `w.m` for Q4_1) `nb` values,
/// `acts.qs` and `acts.d` cover rows `r0..r0 + t`, and `acts.s_t` holds `acts.rows * nb` values
/// with `r0 + t <= acts.rows`.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_inner<const KIND: u8>(
    w: WeightRow<'_>,
    acts: &QuantActs,
    r0: usize,
    out: &mut [f32],
) {
    let nb = acts.k / QK;
    let t = out.len();
    let ones = _mm256_set1_epi16(1);
    let low4 = _mm256_set1_epi8(0x0F);
    let eight = _mm256_set1_epi8(8);
    let mut acc = [_mm256_setzero_ps(); TILE];
    // Q4_1's offsets for the tile's rows, one lane per row: lane i is row r0+i's sequential
    // chain of `m[b] * s[b]` fused multiply-adds, as in the portable kernel.
    let mut offsets = _mm256_setzero_ps();
    // Lanes 0..t set (sign bit), for loading only the tile's rows.
    let first_t = _mm256_cmpgt_epi32(
        _mm256_set1_epi32(t as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    );
    for b in 0..nb {
        if KIND == 1 {
            let base = b * acts.rows + r0;
            // SAFETY: `acts.s_t` holds `rows * nb` values and base + t <= b * rows + rows; the
            // masked load reads only lanes 0..t (the others are zero and never touch memory).
            let sv = unsafe { _mm256_maskload_ps(acts.s_t.as_ptr().add(base), first_t) };
            offsets = _mm256_fmadd_ps(_mm256_set1_ps(w.m[b]), sv, offsets);
        }
        // The weight block as 32 bytes in element order (for Q4: low nibbles are elements
        // 0..16, high nibbles 16..32).
        let wv = if KIND == 2 {
            // SAFETY: `w.qs` holds `nb` blocks of 32 bytes, so bytes 32b..32b+32 exist.
            unsafe { _mm256_loadu_si256(w.qs.as_ptr().add(b * 32).cast()) }
        } else {
            // SAFETY: `w.qs` holds `nb` blocks of 16 bytes, so bytes 16b..16b+16 exist.
            let packed = unsafe { _mm_loadu_si128(w.qs.as_ptr().add(b * 16).cast()) };
            let both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
            let nibbles = _mm256_and_si256(both, low4);
            if KIND == 0 {
                _mm256_sub_epi8(nibbles, eight)
            } else {
                nibbles
            }
        };
        // Signed weights go through `vpmaddubsw` as |w| times x with w's sign moved onto x.
        let wabs = _mm256_sign_epi8(wv, wv);
        let wd = w.d[b];
        for (i, acc) in acc.iter_mut().enumerate().take(t) {
            let blk = (r0 + i) * nb + b;
            // SAFETY: `acts.qs` covers rows r0..r0+t, i.e. blocks up to (r0+t)*nb, 32 bytes each.
            let xv = unsafe { _mm256_loadu_si256(acts.qs.as_ptr().add(blk * QK).cast()) };
            let pairs = if KIND == 1 {
                _mm256_maddubs_epi16(wv, xv)
            } else {
                _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(xv, wv))
            };
            let quads = _mm256_madd_epi16(pairs, ones);
            let dd = _mm256_set1_ps(wd * acts.d[blk]);
            *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(quads), dd, *acc);
        }
    }
    let mut offs = [0f32; TILE];
    // SAFETY: `offs` holds eight f32 values.
    unsafe { _mm256_storeu_ps(offs.as_mut_ptr(), offsets) };
    for i in 0..t {
        out[i] = hsum(acc[i]) + offs[i];
    }
}

/// Proof that this CPU has AVX-512F besides AVX2 and FMA: only [`Token512::detect`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token512(Token);

impl Token512 {
    pub(super) fn detect() -> Option<Token512> {
        let avx2 = Token::detect()?;
        std::arch::is_x86_feature_detected!("avx512f").then_some(Token512(avx2))
    }

    /// The AVX2 kernels run on this CPU too.
    pub(super) fn avx2(self) -> Token {
        self.0
    }
}

/// Whether two rows and four weight rows all have the length `k`, a multiple of 16.
fn f32_shapes_fit(x: &[&[f32]; 2], w: &[&[f32]; 4]) -> bool {
    let k = x[0].len();
    k.is_multiple_of(16) && x.iter().all(|r| r.len() == k) && w.iter().all(|r| r.len() == k)
}

/// Two f32 activation rows against four f32 weight rows, all of length `k` (a multiple of 16):
/// per product sixteen lanes (lane `l` holds elements `l, l + 16, ...`) accumulated with fused
/// multiply-adds, then lanes `l` and `l + 8` added and the eight reduced in the portable
/// kernel's order. Zeros if the slices do not have that shape.
pub(super) fn f32_tile(_cpu: Token, x: [&[f32]; 2], w: [&[f32]; 4]) -> [[f32; 4]; 2] {
    if !f32_shapes_fit(&x, &w) {
        return [[0.0; 4]; 2];
    }
    let mut out = [[0f32; 4]; 2];
    for half in 0..2 {
        // SAFETY: a `Token` exists only where AVX2 and FMA were detected, and the shapes were
        // just checked (what `f32_pair_inner` reads).
        let r = unsafe { f32_pair_inner(x, [w[2 * half], w[2 * half + 1]]) };
        for a in 0..2 {
            out[a][2 * half] = r[a][0];
            out[a][2 * half + 1] = r[a][1];
        }
    }
    out
}

/// Two rows against two weight rows, sixteen lanes as two vectors each (eight accumulators,
/// which fit AVX2's sixteen registers beside the loads).
///
/// # Safety
/// The CPU must support AVX2 and FMA; every slice holds the same `k` values, `k % 16 == 0`.
#[target_feature(enable = "avx2,fma")]
unsafe fn f32_pair_inner(x: [&[f32]; 2], w: [&[f32]; 2]) -> [[f32; 2]; 2] {
    let k = x[0].len();
    let mut acc = [[[_mm256_setzero_ps(); 2]; 2]; 2];
    let mut c = 0;
    while c < k {
        #[allow(clippy::needless_range_loop)] // `h` picks the half of every accumulator.
        for h in 0..2 {
            // SAFETY: c + 16 <= k, and every slice holds k values.
            let (x0, x1, w0, w1) = unsafe {
                (
                    _mm256_loadu_ps(x[0].as_ptr().add(c + 8 * h)),
                    _mm256_loadu_ps(x[1].as_ptr().add(c + 8 * h)),
                    _mm256_loadu_ps(w[0].as_ptr().add(c + 8 * h)),
                    _mm256_loadu_ps(w[1].as_ptr().add(c + 8 * h)),
                )
            };
            acc[0][0][h] = _mm256_fmadd_ps(x0, w0, acc[0][0][h]);
            acc[0][1][h] = _mm256_fmadd_ps(x0, w1, acc[0][1][h]);
            acc[1][0][h] = _mm256_fmadd_ps(x1, w0, acc[1][0][h]);
            acc[1][1][h] = _mm256_fmadd_ps(x1, w1, acc[1][1][h]);
        }
        c += 16;
    }
    let mut out = [[0f32; 2]; 2];
    for a in 0..2 {
        for b in 0..2 {
            out[a][b] = hsum(_mm256_add_ps(acc[a][b][0], acc[a][b][1]));
        }
    }
    out
}

/// Four rows against four weight rows with AVX-512: one sixteen-lane vector per product (16
/// accumulators beside eight loads, of AVX-512's 32 registers), the same lanes as [`f32_tile`].
pub(super) fn f32_tile512(_cpu: Token512, x: [&[f32]; 4], w: [&[f32]; 4]) -> [[f32; 4]; 4] {
    if !f32_shapes_fit(&[x[0], x[1]], &w) || !f32_shapes_fit(&[x[2], x[3]], &w) {
        return [[0.0; 4]; 4];
    }
    // SAFETY: a `Token512` exists only where AVX-512F, AVX2 and FMA were detected, and the
    // shapes were just checked (what `f32_tile512_inner` reads).
    unsafe { f32_tile512_inner(x, w) }
}

/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA; every slice holds the same `k` values,
/// `k % 16 == 0`.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn f32_tile512_inner(x: [&[f32]; 4], w: [&[f32]; 4]) -> [[f32; 4]; 4] {
    let k = x[0].len();
    let mut acc = [[_mm512_setzero_ps(); 4]; 4];
    let mut c = 0;
    while c < k {
        // SAFETY: c + 16 <= k, and every slice holds k values.
        let xv: [__m512; 4] =
            std::array::from_fn(|a| unsafe { _mm512_loadu_ps(x[a].as_ptr().add(c)) });
        for b in 0..4 {
            // SAFETY: as above.
            let wv = unsafe { _mm512_loadu_ps(w[b].as_ptr().add(c)) };
            for a in 0..4 {
                acc[a][b] = _mm512_fmadd_ps(xv[a], wv, acc[a][b]);
            }
        }
        c += 16;
    }
    let mut out = [[0f32; 4]; 4];
    for a in 0..4 {
        for b in 0..4 {
            let v = acc[a][b];
            let lo = _mm512_castps512_ps256(v);
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
            out[a][b] = hsum(_mm256_add_ps(lo, hi));
        }
    }
    out
}

/// Run `f` inside a function compiled for AVX2 and FMA, so that the plain Rust loops inlined
/// into it (attention's dot products and weighted sums) are vectorized eight wide. Results are
/// unchanged: Rust never fuses a multiply and an add into an FMA on its own, and the loops fix
/// their order of additions in code.
pub(super) fn run<R>(_cpu: Token, f: impl FnOnce() -> R) -> R {
    // SAFETY: a `Token` exists only where AVX2 and FMA were detected.
    unsafe { run_inner(f) }
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn run_inner<R>(f: impl FnOnce() -> R) -> R {
    f()
}
