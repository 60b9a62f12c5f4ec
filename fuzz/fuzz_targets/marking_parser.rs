//! Feeds arbitrary bytes (as UTF-8, invalid sequences replaced) to both marking parsers. They
//! must never panic, and whatever they accept must print canonically and parse back to the same
//! label, in both forms.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scif_labels::{Form, Label};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    for form in [Form::Banner, Form::Portion] {
        let Ok(label) = Label::parse(&input, form) else {
            continue;
        };
        let banner = label.banner();
        let portion = label.portion();
        assert_eq!(Label::parse_banner(&banner).as_ref(), Ok(&label), "{input:?} -> {banner}");
        assert_eq!(Label::parse_portion(&portion).as_ref(), Ok(&label), "{input:?} -> {portion}");
        let canonical = label.marking(form);
        let again = Label::parse(&canonical, form).map(|l| l.marking(form));
        assert_eq!(again.as_deref(), Ok(canonical.as_str()), "{input:?}");
    }
});
