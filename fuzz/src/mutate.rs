//! Byte- and token-level mutations of an input, in the spirit of AFL's havoc stage: flips, inserts,
//! deletes, duplicated ranges, splices with another input, and "interesting" tokens (extreme numbers,
//! NaN and infinities in JSON and YAML spellings, empty collections, YAML anchors) written over or
//! between bytes, so both structure and values get pushed to their edges.

use rand::Rng;

/// Tokens that break assumptions: sizes at and past integer limits, float specials, empty and nested
/// collections, YAML syntax.
const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "255",
    "65536",
    "32768",
    "32769",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "1e10",
    "1e308",
    "1e-308",
    "-0.0",
    "NaN",
    ".nan",
    ".inf",
    "-.inf",
    "Infinity",
    "null",
    "~",
    "true",
    "\"\"",
    "[]",
    "{}",
    "[[]]",
    "[1e10]",
    "[0, 0]",
    "&a x",
    "*a",
    "!!binary AAAA",
    "\n",
    ": ",
    "- ",
    "  ",
    ",",
    "\"",
    "\\u0000",
];

/// Applies one random mutation to `input`; `other` is a second input for splices.
pub fn mutate(input: &mut Vec<u8>, other: &[u8], rng: &mut impl Rng) {
    let len = input.len();
    match rng.random_range(0..9) {
        0 if len > 0 => {
            let at = rng.random_range(0..len);
            input[at] ^= 1 << rng.random_range(0..8);
        }
        1 if len > 0 => {
            let at = rng.random_range(0..len);
            input[at] = rng.random();
        }
        2 => {
            let at = rng.random_range(0..=len);
            let n = rng.random_range(1..=8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            input.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let start = rng.random_range(0..len);
            let end = (start + rng.random_range(1..=16)).min(len);
            input.drain(start..end);
        }
        4 if len > 0 => {
            let start = rng.random_range(0..len);
            let end = (start + rng.random_range(1..=64)).min(len);
            let copy = input[start..end].to_vec();
            let at = rng.random_range(0..=input.len());
            input.splice(at..at, copy);
        }
        5 if !other.is_empty() => {
            // Splice: a prefix of this input, a suffix of the other.
            let cut = rng.random_range(0..=len);
            let from = rng.random_range(0..other.len());
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        6 => {
            let token = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
            let at = rng.random_range(0..=len);
            input.splice(at..at, token.iter().copied());
        }
        7 => replace_number(input, rng),
        _ if len > 0 => {
            let cut = rng.random_range(0..len);
            input.truncate(cut);
        }
        _ => input.push(rng.random()),
    }
}

/// Replaces one run of digits (with its sign, dot and exponent) by an interesting token.
fn replace_number(input: &mut Vec<u8>, rng: &mut impl Rng) {
    let starts: Vec<usize> = (0..input.len())
        .filter(|&i| input[i].is_ascii_digit() && (i == 0 || !input[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = starts[rng.random_range(0..starts.len())];
    let mut end = start;
    while end < input.len()
        && (input[end].is_ascii_alphanumeric() || matches!(input[end], b'.' | b'-' | b'+'))
    {
        end += 1;
    }
    let token = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
    input.splice(start..end, token.iter().copied());
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mutations_change_inputs_and_are_seeded() {
        let run = |seed| {
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
            let mut input = b"workers: 16\nrecords: 1000\n".to_vec();
            let mut changed = 0;
            for _ in 0..100 {
                let before = input.clone();
                mutate(&mut input, b"alpha: 1.5", &mut rng);
                changed += usize::from(before != input);
            }
            (input, changed)
        };
        let (a, changed) = run(3);
        assert!(changed > 50, "only {changed} of 100 mutations changed the input");
        assert_eq!(run(3).0, a, "same seed, same inputs");
        assert_ne!(run(4).0, a);
    }
}
