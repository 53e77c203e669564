//! LEB128 varints, the integers of lunette's byte formats (binary chunks, `dump`, and the
//! VM's images): 7 bits a byte, low first, at most 10 bytes; signed values zigzag-encoded.

/// Appends `v` as an unsigned varint.
pub fn write_unsigned(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Appends `v` zigzag-encoded (small magnitudes of either sign take few bytes).
pub fn write_signed(out: &mut Vec<u8>, v: i64) {
    write_unsigned(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The bytes ended inside it.
    Truncated,
    /// It does not fit in 64 bits.
    Overflow,
}

/// Reads an unsigned varint at `*pos`, advancing it. Never panics: untrusted input.
#[inline]
pub fn read_unsigned(bytes: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    let mut at = *pos;
    let mut v: u64 = 0;
    let mut shift = 0;
    // Ten bytes at most: the tenth may only hold the top bit.
    while shift < 64 {
        let b = *bytes.get(at).ok_or(VarintError::Truncated)?;
        at += 1;
        let bits = (b & 0x7f) as u64;
        if shift == 63 && bits > 1 {
            return Err(VarintError::Overflow);
        }
        v |= bits << shift;
        if b & 0x80 == 0 {
            *pos = at;
            return Ok(v);
        }
        shift += 7;
    }
    Err(VarintError::Overflow)
}

/// Reads a zigzag-encoded signed varint at `*pos`, advancing it.
#[inline]
pub fn read_signed(bytes: &[u8], pos: &mut usize) -> Result<i64, VarintError> {
    let u = read_unsigned(bytes, pos)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_input() {
        for v in [0u64, 1, 127, 128, 300, u64::MAX] {
            let mut out = Vec::new();
            write_unsigned(&mut out, v);
            let mut pos = 0;
            assert_eq!(read_unsigned(&out, &mut pos), Ok(v));
            assert_eq!(pos, out.len());
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            write_signed(&mut out, v);
            assert_eq!(read_signed(&out, &mut 0), Ok(v));
        }
        assert_eq!(read_unsigned(&[0x80], &mut 0), Err(VarintError::Truncated));
        assert_eq!(
            read_unsigned(&[0xff; 10], &mut 0),
            Err(VarintError::Overflow)
        );
        assert_eq!(
            read_unsigned(&[0xff; 11], &mut 0),
            Err(VarintError::Overflow)
        );
    }
}
