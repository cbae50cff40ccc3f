//! Property tests of aggregation expressions and pipelines: random expression trees (random
//! operators with random argument counts and types, mostly invalid) and random pipelines must
//! compile and evaluate without panicking, and evaluation must be deterministic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bson::{doc, Bson, Document};
use proptest::prelude::*;
use rampart_mql::{aggregate, Expr, NoCollections, Variables};

const OPERATORS: &[&str] = &[
    "$add",
    "$subtract",
    "$multiply",
    "$divide",
    "$mod",
    "$abs",
    "$ceil",
    "$floor",
    "$round",
    "$trunc",
    "$sqrt",
    "$pow",
    "$exp",
    "$ln",
    "$log",
    "$log10",
    "$sum",
    "$avg",
    "$min",
    "$max",
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$cmp",
    "$and",
    "$or",
    "$not",
    "$cond",
    "$ifNull",
    "$switch",
    "$concat",
    "$toLower",
    "$toUpper",
    "$substrCP",
    "$substrBytes",
    "$split",
    "$strLenCP",
    "$strLenBytes",
    "$trim",
    "$ltrim",
    "$rtrim",
    "$indexOfCP",
    "$indexOfBytes",
    "$regexMatch",
    "$regexFind",
    "$regexFindAll",
    "$replaceAll",
    "$replaceOne",
    "$strcasecmp",
    "$size",
    "$arrayElemAt",
    "$first",
    "$last",
    "$filter",
    "$map",
    "$in",
    "$slice",
    "$concatArrays",
    "$reverseArray",
    "$isArray",
    "$range",
    "$reduce",
    "$indexOfArray",
    "$arrayToObject",
    "$objectToArray",
    "$setUnion",
    "$setIntersection",
    "$setDifference",
    "$setEquals",
    "$setIsSubset",
    "$anyElementTrue",
    "$allElementsTrue",
    "$type",
    "$toString",
    "$toInt",
    "$toLong",
    "$toDouble",
    "$toDecimal",
    "$toBool",
    "$toObjectId",
    "$toDate",
    "$convert",
    "$isNumber",
    "$year",
    "$month",
    "$dayOfMonth",
    "$hour",
    "$minute",
    "$second",
    "$millisecond",
    "$dayOfWeek",
    "$dayOfYear",
    "$week",
    "$isoWeek",
    "$dateToString",
    "$dateFromString",
    "$mergeObjects",
    "$getField",
    "$setField",
    "$unsetField",
    "$let",
    "$literal",
    "$frob",
];

const ARGUMENT_NAMES: &[&str] = &[
    "input",
    "as",
    "in",
    "cond",
    "limit",
    "initialValue",
    "vars",
    "if",
    "then",
    "else",
    "branches",
    "default",
    "case",
    "regex",
    "options",
    "find",
    "replacement",
    "to",
    "onError",
    "onNull",
    "date",
    "format",
    "timezone",
    "dateString",
    "field",
    "value",
    "chars",
];

fn leaf() -> impl Strategy<Value = Bson> {
    prop_oneof![
        any::<i32>().prop_map(Bson::Int32),
        (-3i32..40).prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<f64>().prop_map(Bson::Double),
        Just(Bson::Double(0.5)),
        Just(Bson::Null),
        any::<bool>().prop_map(Bson::Boolean),
        prop::sample::select(vec![
            "$a",
            "$b",
            "$s",
            "$arr",
            "$d",
            "$missing",
            "$$this",
            "$$value",
            "$$ROOT",
            "$$NOW",
            "$$REMOVE",
            "$$x",
            "$$v",
            "x",
            "",
            "%Y-%m-%d",
            "+02:00",
            "int",
            "string",
            "date",
            "2024-01-01",
            "^a.*",
            "a,b",
            "héllo",
            "$a.b",
            "$$ROOT.arr",
        ])
        .prop_map(|text| Bson::String(text.to_owned())),
        (-1_000_000_000_000i64..4_000_000_000_000)
            .prop_map(|millis| Bson::DateTime(bson::DateTime::from_millis(millis))),
    ]
}

fn expression() -> impl Strategy<Value = Bson> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            // An operator with a list of arguments.
            (
                prop::sample::select(OPERATORS),
                prop::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(op, args)| Bson::Document(doc! { op: Bson::Array(args) })),
            // An operator with a single argument.
            (prop::sample::select(OPERATORS), inner.clone())
                .prop_map(|(op, arg)| Bson::Document(doc! { op: arg })),
            // An operator with named arguments.
            (
                prop::sample::select(OPERATORS),
                prop::collection::vec((prop::sample::select(ARGUMENT_NAMES), inner.clone()), 0..4)
            )
                .prop_map(|(op, args)| {
                    let mut named = Document::new();
                    for (name, value) in args {
                        named.insert(name, value);
                    }
                    Bson::Document(doc! { op: named })
                }),
            // `$let`, `$map` and `$reduce` binding the variables the leaves use.
            (inner.clone(), inner.clone()).prop_map(|(value, body)| Bson::Document(
                doc! { "$let": { "vars": { "x": value }, "in": body } }
            )),
            (inner.clone(), inner.clone()).prop_map(|(input, body)| Bson::Document(
                doc! { "$map": { "input": input, "as": "v", "in": body } }
            )),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(input, init, body)| {
                Bson::Document(
                    doc! { "$reduce": { "input": input, "initialValue": init, "in": body } },
                )
            }),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
            prop::collection::vec(inner, 0..3).prop_map(|values| {
                let mut object = Document::new();
                for (index, value) in values.into_iter().enumerate() {
                    object.insert(format!("f{index}"), value);
                }
                Bson::Document(object)
            }),
        ]
    })
}

/// An outcome as printed, to compare two evaluations: a NaN result (`$pow: [-1, 0.5]`) is not
/// equal to itself, but prints the same each time.
fn printed(outcome: &impl std::fmt::Debug) -> String {
    format!("{outcome:?}")
}

fn sample_document() -> Document {
    doc! {
        "_id": 1,
        "a": 5,
        "b": { "b": [1, 2] },
        "s": "Hello",
        "arr": [1, "two", 3.5, null, { "b": 4 }, [5]],
        "d": bson::DateTime::from_millis(1_709_647_629_123),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_expressions_never_panic(expr in expression()) {
        let root = sample_document();
        let variables = Variables::new()
            .with_now(bson::DateTime::from_millis(1_700_000_000_000))
            .with("x", Bson::Int32(2));
        if let Ok(compiled) = Expr::compile(&expr) {
            let first = compiled.evaluate(&root, &variables);
            let second = compiled.evaluate(&root, &variables);
            prop_assert_eq!(printed(&first), printed(&second));
        }
    }

    #[test]
    fn random_pipelines_never_panic(
        exprs in prop::collection::vec(expression(), 1..4),
        kinds in prop::collection::vec(0usize..8, 1..4),
    ) {
        let mut stages = Vec::new();
        for (kind, expr) in kinds.iter().zip(exprs) {
            stages.push(match kind {
                0 => doc! { "$project": { "r": expr } },
                1 => doc! { "$addFields": { "r.s": expr } },
                2 => doc! { "$group": { "_id": expr.clone(), "n": { "$sum": expr.clone() },
                                        "p": { "$push": expr.clone() }, "m": { "$max": expr } } },
                3 => doc! { "$match": { "$expr": expr } },
                4 => doc! { "$replaceWith": expr },
                5 => doc! { "$unwind": { "path": "$arr", "includeArrayIndex": "i",
                                         "preserveNullAndEmptyArrays": true } },
                6 => doc! { "$facet": { "f": [ { "$project": { "r": expr } } ] } },
                _ => doc! { "$sortByCount": expr },
            });
        }
        let docs = vec![sample_document(), doc! { "_id": 2, "a": "x" }, doc! {}];
        let variables = Variables::new().with_now(bson::DateTime::from_millis(0));
        let first = aggregate(&docs, &stages, &NoCollections, &variables);
        let second = aggregate(&docs, &stages, &NoCollections, &variables);
        prop_assert_eq!(printed(&first), printed(&second));
    }
}
