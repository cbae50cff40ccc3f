use bson::{bson, doc, Bson};

use super::*;

fn eval(expr: Bson, root: bson::Document) -> Result<Option<Bson>> {
    Expr::compile(&expr)?.evaluate(&root, &Variables::new())
}

#[test]
fn field_paths_walk_arrays() {
    let root = doc! {"a": [{"b": 1}, {"b": 2}, {"c": 3}, 4, [{"b": 5}]]};
    assert_eq!(eval(bson!("$a.b"), root).unwrap(), Some(bson!([1, 2, [5]])));
}

#[test]
fn let_values_do_not_see_each_other() {
    let expr = bson!({"$let": {
        "vars": {"a": 1, "b": {"$map": {"input": [10], "as": "x", "in": "$$x"}}},
        "in": ["$$a", "$$b"]
    }});
    assert_eq!(eval(expr, doc! {}).unwrap(), Some(bson!([1, [10]])));
}

#[test]
fn deep_expressions_are_rejected() {
    let mut expr = bson!(1);
    for _ in 0..101 {
        expr = bson!({"$abs": expr});
    }
    assert_eq!(
        Expr::compile(&expr).unwrap_err().kind(),
        crate::ErrorKind::LimitExceeded
    );
}

#[test]
fn undefined_variables_fail_at_evaluation() {
    let error = eval(bson!("$$nope"), doc! {}).unwrap_err();
    assert!(error.message().contains("$$nope"));
    let with = Variables::new().with("nope", Bson::Int32(3));
    let value = Expr::compile(&bson!("$$nope"))
        .unwrap()
        .evaluate(&doc! {}, &with)
        .unwrap();
    assert_eq!(value, Some(Bson::Int32(3)));
}

/// Compilation and evaluation recurse once per nesting level: the deepest expression the
/// limit admits must fit a small thread stack even in debug builds.
#[test]
fn deepest_expressions_fit_a_small_stack() {
    for operator in ["$abs", "$not", "$isArray", "$toString"] {
        let result = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || {
                let mut expr = Bson::Int32(1);
                for _ in 0..99 {
                    let mut doc = bson::Document::new();
                    doc.insert(operator, Bson::Array(vec![expr]));
                    expr = Bson::Document(doc);
                }
                let compiled = Expr::compile(&expr).unwrap();
                compiled.evaluate(&doc! {}, &Variables::new()).map(|_| ())
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(result.is_ok(), "{operator}: {result:?}");
    }
}
