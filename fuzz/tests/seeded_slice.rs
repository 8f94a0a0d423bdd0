//! A short seeded slice of every fuzz target, in the normal test run: the same inputs every time, so a
//! failure here reproduces. `bin/fuzz.sh` runs the long campaigns.

#[test]
fn a_seeded_slice_of_every_target_finds_no_crash() {
    for mut target in sas_fuzz::targets::all() {
        let report = sas_fuzz::run(target.as_mut(), 5_000, 1, |_| {});
        assert_eq!(report.execs, 5_000);
        assert!(
            report.crashes.is_empty(),
            "{}: {} crash(es), first: {} on {:?}",
            target.name(),
            report.crashes.len(),
            report.crashes[0].1,
            String::from_utf8_lossy(&report.crashes[0].0)
        );
        // The seeds are valid and some mutants are too, so the checks after parsing run.
        assert!(report.accepted > 0, "{}: nothing accepted", target.name());
    }
}

#[test]
fn a_panicking_target_is_reported_with_its_input() {
    struct Fragile;
    impl sas_fuzz::Target for Fragile {
        fn name(&self) -> &'static str {
            "fragile"
        }
        fn seeds(&self) -> Vec<Vec<u8>> {
            vec![b"ok".to_vec()]
        }
        fn run(&mut self, input: &[u8]) -> bool {
            assert!(input != b"o", "fragile on {input:?}");
            true
        }
    }
    let report = sas_fuzz::run(&mut Fragile, 2_000, 7, |_| {});
    assert!(!report.crashes.is_empty(), "truncations of \"ok\" reach \"o\"");
    assert!(
        report
            .crashes
            .iter()
            .all(|(input, message)| input == b"o" && message.contains("fragile"))
    );
}
