//! Helpers shared by integration tests (each test file that needs them has `mod common;`).

/// Deterministic pseudo-random numbers for a test's own choices (a 64-bit LCG, its high
/// bits): the same sequence on every machine, so a failing run can be replayed by its seed.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}
