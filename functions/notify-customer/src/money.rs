//! Amounts in integer minor units shown in major units, exactly: no floating point anywhere.
//!
//! The number of decimals is the currency's ISO 4217 *exponent* (minor unit): 2 unless the
//! small table below says otherwise. Only the exceptions are listed; a code not in the table
//! (including one ISO does not define) gets 2, which is right for almost every currency in use.

/// ISO 4217 currencies whose minor unit is not 1/100 of the major unit.
const EXPONENTS: &[(&str, u32)] = &[
    // No minor unit.
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    // Thousandths.
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
    // Ten-thousandths (units of account).
    ("CLF", 4),
    ("UYW", 4),
];

/// Digits after the decimal point for `currency` (an ISO 4217 code).
pub fn exponent(currency: &str) -> u32 {
    EXPONENTS
        .iter()
        .find(|(code, _)| *code == currency)
        .map_or(2, |(_, exponent)| *exponent)
}

/// Whether `currency` has the shape of an ISO 4217 code (three upper-case ASCII letters), as
/// validation requires of every accepted order.
pub fn is_currency_code(currency: &str) -> bool {
    currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase())
}

/// `minor` units as a decimal number with `exponent` decimals: `(2999, 2)` → `"29.99"`,
/// `(-5, 2)` → `"-0.05"`, `(1500, 0)` → `"1500"`. Exact for every `i128` (so for products of
/// two `i64`s too).
pub fn format_minor(minor: i128, exponent: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let digits = minor.unsigned_abs().to_string();
    let exponent = exponent as usize;
    if exponent == 0 {
        return format!("{sign}{digits}");
    }
    // Left-pad so there is at least one digit before the point.
    let padded = format!("{digits:0>width$}", width = exponent + 1);
    let (major, fraction) = padded.split_at(padded.len() - exponent);
    format!("{sign}{major}.{fraction}")
}

/// An amount for people: `"29.99 EUR"`, `"1500 JPY"`, `"1.250 KWD"`. Without a usable
/// currency code (a rejected order may lack one) the decimals are unknown, so the amount is
/// shown as it is stored: `"2999 (minor units)"`.
pub fn format_amount(minor: i128, currency: Option<&str>) -> String {
    match currency.filter(|code| is_currency_code(code)) {
        Some(code) => format!("{} {code}", format_minor(minor, exponent(code))),
        None => format!("{minor} (minor units)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(exponent("EUR"), 2);
        assert_eq!(exponent("USD"), 2);
        assert_eq!(exponent("GBP"), 2);
        assert_eq!(exponent("JPY"), 0);
        assert_eq!(exponent("KRW"), 0);
        assert_eq!(exponent("BHD"), 3);
        assert_eq!(exponent("KWD"), 3);
        assert_eq!(exponent("OMR"), 3);
        assert_eq!(exponent("JOD"), 3);
        assert_eq!(exponent("TND"), 3);
        assert_eq!(exponent("CLF"), 4);
        // Unknown codes: the common case.
        assert_eq!(exponent("ZZZ"), 2);
        // The table has no duplicates and only well-formed codes.
        let mut codes: Vec<&str> = EXPONENTS.iter().map(|(code, _)| *code).collect();
        assert!(codes.iter().all(|code| is_currency_code(code)));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), EXPONENTS.len());
    }

    #[test]
    fn formats_minor_units_exactly() {
        assert_eq!(format_minor(2999, 2), "29.99");
        assert_eq!(format_minor(2500, 2), "25.00");
        assert_eq!(format_minor(5, 2), "0.05");
        assert_eq!(format_minor(0, 2), "0.00");
        assert_eq!(format_minor(-5, 2), "-0.05");
        assert_eq!(format_minor(-12345, 2), "-123.45");
        assert_eq!(format_minor(1500, 0), "1500");
        assert_eq!(format_minor(-1500, 0), "-1500");
        assert_eq!(format_minor(1250, 3), "1.250");
        assert_eq!(format_minor(7, 3), "0.007");
        assert_eq!(format_minor(1, 4), "0.0001");
        // The extremes of i64, and a product of two of them, with no rounding.
        assert_eq!(
            format_minor(i128::from(i64::MAX), 2),
            "92233720368547758.07"
        );
        assert_eq!(
            format_minor(i128::from(i64::MIN), 2),
            "-92233720368547758.08"
        );
        assert_eq!(
            format_minor(i128::from(i64::MAX) * i128::from(i64::MAX), 2),
            "850705917302346158473969077842325012.49"
        );
        assert_eq!(
            format_minor(i128::MIN, 0),
            "-170141183460469231731687303715884105728"
        );
        // A value a binary float cannot hold exactly.
        assert_eq!(format_minor(9_007_199_254_740_993, 2), "90071992547409.93");
    }

    #[test]
    fn formats_amounts_with_their_currency() {
        assert_eq!(format_amount(2999, Some("EUR")), "29.99 EUR");
        assert_eq!(format_amount(1500, Some("JPY")), "1500 JPY");
        assert_eq!(format_amount(1250, Some("KWD")), "1.250 KWD");
        assert_eq!(format_amount(2999, None), "2999 (minor units)");
        assert_eq!(format_amount(2999, Some("E")), "2999 (minor units)");
        assert_eq!(format_amount(2999, Some("eur")), "2999 (minor units)");
    }
}
