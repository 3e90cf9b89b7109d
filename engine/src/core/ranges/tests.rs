use super::*;

fn r(offset: u64, length: u64) -> FileRange {
    FileRange::new(offset, length)
}

fn code(ranges: &[FileRange]) -> Hresult {
    validate_ranges(ranges).unwrap_err().code
}

#[test]
fn the_bitsadmin_syntax_parses_and_prints_back() {
    let ranges = parse_ranges("0:100,2000:100,5000:eof").unwrap();
    assert_eq!(ranges, vec![r(0, 100), r(2000, 100), FileRange::to_eof(5000)]);
    assert_eq!(format_ranges(&ranges), "0:100,2000:100,5000:eof");
    assert_eq!(parse_ranges(" 7 : EOF ").unwrap(), vec![FileRange::to_eof(7)]);
}

#[test]
fn bad_syntax_says_which_item() {
    for (text, says) in [
        ("", "no ranges"),
        ("0-100", "`0-100` is not `offset:length`"),
        ("0:100,x:5", "offset `x`"),
        ("0:-5", "length `-5`"),
        ("0:100,", "is not `offset:length`"),
        ("99999999999999999999:1", "too large"),
    ] {
        let error = parse_ranges(text).unwrap_err();
        assert!(error.contains(says), "{text}: {error}");
    }
}

#[test]
fn no_ranges_is_an_invalid_argument() {
    assert_eq!(code(&[]), Hresult::E_INVALIDARG);
}

#[test]
fn eof_is_a_length_never_an_offset() {
    assert_eq!(validate_ranges(&[FileRange::to_eof(10)]), Ok(()));
    assert_eq!(code(&[r(LENGTH_TO_EOF, 10)]), Hresult::BG_E_INVALID_RANGE);
    assert_eq!(code(&[FileRange::to_eof(LENGTH_TO_EOF)]), Hresult::BG_E_INVALID_RANGE);
}

#[test]
fn zero_lengths_are_refused_in_either_order() {
    assert_eq!(code(&[r(100, 0)]), Hresult::BG_E_INVALID_RANGE);
    // bitsadmin's order-dependent zero-length quirk never arises: both orders fail alike.
    assert_eq!(code(&[r(100, 0), r(100, 5)]), Hresult::BG_E_INVALID_RANGE);
    assert_eq!(code(&[r(100, 5), r(100, 0)]), Hresult::BG_E_INVALID_RANGE);
}

#[test]
fn a_length_that_overflows_is_an_invalid_range() {
    assert_eq!(code(&[r(10, u64::MAX - 5)]), Hresult::BG_E_INVALID_RANGE);
}

#[test]
fn duplicates_and_overlaps_are_found_after_sorting_by_offset() {
    assert_eq!(code(&[r(0, 100), r(0, 100)]), Hresult::BG_E_OVERLAPPING_RANGES);
    // Overlapping only once sorted: 400-499 lies inside 300-599, listed far apart.
    assert_eq!(code(&[r(400, 100), r(900, 1), r(300, 300)]), Hresult::BG_E_OVERLAPPING_RANGES);
    // A range to EOF overlaps every range after it.
    assert_eq!(code(&[r(5000, 10), FileRange::to_eof(100)]), Hresult::BG_E_OVERLAPPING_RANGES);
    assert_eq!(
        code(&[FileRange::to_eof(0), FileRange::to_eof(0)]),
        Hresult::BG_E_OVERLAPPING_RANGES
    );
    // Adjacent is not overlapping; out of order is fine.
    assert_eq!(validate_ranges(&[r(100, 100), r(0, 100), FileRange::to_eof(200)]), Ok(()));
}

#[test]
fn more_than_the_limit_is_too_many_ranges() {
    let many: Vec<FileRange> = (0..=RANGES_PER_FILE_MAX as u64).map(|i| r(i * 10, 1)).collect();
    assert_eq!(code(&many), Hresult::BG_E_TOO_MANY_RANGES_IN_FILE);
    assert_eq!(validate_ranges(&many[..RANGES_PER_FILE_MAX]), Ok(()));
}

#[test]
fn the_local_file_is_the_ranges_in_the_order_given() {
    // The AddFileWithRanges example: remote 100-199, 900-999, 400-499 -> 300 local bytes.
    let ranges = [r(100, 100), r(900, 100), r(400, 100)];
    let layout = FileLayout::resolve(&ranges, 1000, Defects::default()).unwrap();
    assert_eq!(layout.total(), 300);
    assert_eq!(layout.remote_ranges(), &[100..200, 900..1000, 400..500]);
    assert_eq!(layout.remote_offset(0), Some(100));
    assert_eq!(layout.remote_offset(99), Some(199));
    assert_eq!(layout.remote_offset(100), Some(900));
    assert_eq!(layout.remote_offset(250), Some(450));
    assert_eq!(layout.remote_offset(300), None);
}

#[test]
fn a_resume_inside_a_range_continues_at_the_exact_remote_byte() {
    let ranges = [r(100, 100), r(900, 100), r(400, 100)];
    let layout = FileLayout::resolve(&ranges, 1000, Defects::default()).unwrap();
    assert_eq!(
        layout.segment_at(0, Defects::default()),
        Some(Segment { local: 0, remote: 100..200 })
    );
    assert_eq!(
        layout.segment_at(137, Defects::default()),
        Some(Segment { local: 137, remote: 937..1000 })
    );
    assert_eq!(
        layout.segment_at(200, Defects::default()),
        Some(Segment { local: 200, remote: 400..500 })
    );
    assert_eq!(layout.segment_at(300, Defects::default()), None);
}

#[test]
fn eof_ranges_resolve_to_the_remote_size() {
    let ranges = parse_ranges("0:100,2000:100,5000:eof").unwrap();
    let layout = FileLayout::resolve(&ranges, 8000, Defects::default()).unwrap();
    assert_eq!(layout.remote_ranges(), &[0..100, 2000..2100, 5000..8000]);
    assert_eq!(layout.total(), 3200);
}

#[test]
fn a_range_outside_the_file_is_a_fatal_invalid_range() {
    for (ranges, size) in [
        (vec![r(0, 100), r(900, 101)], 1000),
        (vec![r(1000, 1)], 1000),
        (vec![FileRange::to_eof(1000)], 1000),
        (vec![FileRange::to_eof(0)], 0),
    ] {
        let error = FileLayout::resolve(&ranges, size, Defects::default()).unwrap_err();
        assert_eq!(error.code, Hresult::BG_E_INVALID_RANGE, "{ranges:?} of {size}");
        assert!(!error.is_transient());
        assert!(error.detail.contains("beyond the end"), "{}", error.detail);
    }
    assert!(FileLayout::resolve(&[r(900, 100)], 1000, Defects::default()).is_ok());
}

#[test]
fn no_ranges_is_the_whole_file() {
    let layout = FileLayout::resolve(&[], 1000, Defects::default()).unwrap();
    assert_eq!((layout.total(), layout.remote_offset(400)), (1000, Some(400)));
    let empty = FileLayout::resolve(&[], 0, Defects::default()).unwrap();
    assert_eq!((empty.total(), empty.segment_at(0, Defects::default())), (0, None));
}

#[test]
fn bytes_total_is_the_sum_of_the_ranges() {
    let fixed = [r(100, 100), r(900, 100), r(400, 100)];
    assert_eq!(bytes_total(&fixed, None), Some(300), "known before the size is");
    let to_eof = parse_ranges("0:100,5000:eof").unwrap();
    assert_eq!(bytes_total(&to_eof, None), None);
    assert_eq!(bytes_total(&to_eof, Some(8000)), Some(3100));
    assert_eq!(bytes_total(&[], Some(8000)), Some(8000));
    assert_eq!(bytes_total(&[], None), None);
}
