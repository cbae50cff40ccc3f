//! Decimal128 arithmetic against an independent implementation: `data/decimal_arith.jsonl`
//! holds sums, differences, products and quotients computed by Python's `decimal` module in the
//! IEEE 754 decimal128 context (`data/gen_decimal_arith.py`): 34 digits, half to even, the
//! exponent range clamped. Each is evaluated here as an aggregation expression on decimal
//! operands and must give the same decimal, digit for digit and exponent for exponent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bson::{doc, Bson, Decimal128, Document};
use rampart_mql::{Expr, Variables};
use serde_json::Value;

#[test]
fn decimal_arithmetic_agrees_with_pythons_decimal_module() {
    let data = include_str!("data/decimal_arith.jsonl");
    let mut failures = Vec::new();
    let mut count = 0;
    for line in data.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let text = |key: &str| case[key].as_str().unwrap().to_owned();
        let (a, b) = (text("a"), text("b"));
        let operand = |text: &str| Bson::Decimal128(text.parse::<Decimal128>().unwrap());
        let operator = format!("${}", text("op"));
        let expression = Bson::Document(doc! { &operator: [operand(&a), operand(&b)] });
        let result = Expr::compile(&expression)
            .unwrap()
            .evaluate(&Document::new(), &Variables::new())
            .unwrap();
        let shown = match result {
            Some(Bson::Decimal128(value)) => value.to_string(),
            other => format!("{other:?}"),
        };
        count += 1;
        if shown != text("result") {
            failures.push(format!(
                "{a} {operator} {b}: {shown}, expected {}",
                text("result")
            ));
        }
    }
    assert!(count > 2000, "only {count} cases");
    assert!(
        failures.is_empty(),
        "{} of {count} differ:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
