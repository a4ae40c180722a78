//! How far a JSON string runs before anything the scanner cannot borrow as it is: a `"` (its
//! end), a `\` (an escape) or a control character (not allowed in JSON text).
//!
//! The scanner asks this once for every string of an event: eleven short ones per entry (keys,
//! the topic, the timestamp type, the key) and one long one (the base64 value). Reading byte by
//! byte made the short strings a large part of an event's parse, and a search for `"` and `\`
//! followed by a second pass for control characters read the long ones twice. Here every string
//! is read once, sixteen bytes at a time, with the vector instructions every CPU of the target
//! has (SSE2 on x86-64, NEON on aarch64, so no run-time detection); other targets read byte by
//! byte. The tests hold the vector reading to the byte-by-byte one.

/// The bytes that end a plain run.
fn stops(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || byte < 0x20
}

/// How many bytes at the start of `bytes` are neither `"`, `\` nor a control character.
pub(crate) fn plain_run(bytes: &[u8]) -> usize {
    let blocks = vector::plain_blocks(bytes);
    blocks + bytewise(&bytes[blocks..])
}

/// The same, one byte at a time: the reading the vector one is held to, and its tail.
fn bytewise(bytes: &[u8]) -> usize {
    bytes.iter().position(|&b| stops(b)).unwrap_or(bytes.len())
}

#[cfg(target_arch = "x86_64")]
mod vector {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// How many bytes at the start are plain, read 16 bytes at a time: exact when a block
    /// holds a stop, else a multiple of 16 that leaves the tail to the caller.
    pub(super) fn plain_blocks(bytes: &[u8]) -> usize {
        let mut at = 0;
        // SAFETY: SSE2 is part of the x86-64 baseline, so these intrinsics are always
        // available; every load reads 16 bytes at `at` with `at + 16 <= bytes.len()`, and
        // `_mm_loadu_si128` takes unaligned addresses.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let control_max = _mm_set1_epi8(0x1f);
            while at + 16 <= bytes.len() {
                let block = _mm_loadu_si128(bytes.as_ptr().add(at).cast::<__m128i>());
                // A control character is one whose minimum with 0x1f is itself.
                let control = _mm_cmpeq_epi8(_mm_min_epu8(block, control_max), block);
                let special = _mm_or_si128(
                    _mm_or_si128(
                        _mm_cmpeq_epi8(block, quote),
                        _mm_cmpeq_epi8(block, backslash),
                    ),
                    control,
                );
                let mask = _mm_movemask_epi8(special);
                if mask != 0 {
                    return at + mask.trailing_zeros() as usize;
                }
                at += 16;
            }
        }
        at
    }
}

#[cfg(target_arch = "aarch64")]
mod vector {
    use std::arch::aarch64::{vceqq_u8, vcltq_u8, vdupq_n_u8, vld1q_u8, vmaxvq_u8, vorrq_u8};

    /// How many bytes at the start are plain, counted a block of 16 at a time: a multiple of
    /// 16 that stops at the first block holding a stop, which the caller reads byte by byte.
    pub(super) fn plain_blocks(bytes: &[u8]) -> usize {
        let mut at = 0;
        // SAFETY: NEON is part of the aarch64 baseline, so these intrinsics are always
        // available; every load reads 16 bytes at `at` with `at + 16 <= bytes.len()`.
        unsafe {
            let quote = vdupq_n_u8(b'"');
            let backslash = vdupq_n_u8(b'\\');
            let space = vdupq_n_u8(0x20);
            while at + 16 <= bytes.len() {
                let block = vld1q_u8(bytes.as_ptr().add(at));
                let special = vorrq_u8(
                    vorrq_u8(vceqq_u8(block, quote), vceqq_u8(block, backslash)),
                    vcltq_u8(block, space),
                );
                if vmaxvq_u8(special) != 0 {
                    break;
                }
                at += 16;
            }
        }
        at
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod vector {
    /// No vector reading on this target: every byte is left to the byte-by-byte one.
    pub(super) fn plain_blocks(_bytes: &[u8]) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn each_stop_ends_the_run_wherever_it_falls() {
        for stop in [b'"', b'\\', 0x00, 0x0a, 0x1f] {
            for at in 0..40 {
                let mut bytes = vec![b'A'; 40];
                bytes[at] = stop;
                assert_eq!(plain_run(&bytes), at, "stop {stop:#x} at {at}");
            }
        }
    }

    #[test]
    fn bytes_from_space_up_are_plain_but_quote_and_backslash() {
        let plain: Vec<u8> = (0x20..=0xff).filter(|&b| b != b'"' && b != b'\\').collect();
        assert_eq!(plain_run(&plain), plain.len());
        assert_eq!(plain_run(b""), 0);
    }

    proptest! {
        /// The vector reading ends every run where the byte-by-byte one does.
        #[test]
        fn the_vector_reading_agrees_with_the_bytewise_one(
            bytes in proptest::collection::vec(
                prop_oneof![8 => 0x20u8..0x7f, 1 => any::<u8>()], 0..200),
        ) {
            prop_assert_eq!(plain_run(&bytes), bytewise(&bytes));
        }
    }
}
