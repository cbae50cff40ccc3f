//! `%function`: Rampart's bridge to user code. The function `<name>` is the Rego rule
//! `data.functions.<name>`, evaluated by regorus with
//! `input = {"arguments": [...], "user": {...}}` (relaxed Extended JSON); its value is the
//! function's result and an undefined rule is an unresolved value.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use bson::Bson;
use rampart_mql::{from_json_value, to_json_value, ExtJsonMode};
use regorus::utils::limits::ExecutionTimerConfig;

use crate::error::{ConfigError, JsonPath, Problems};
use crate::expr::EvalError;

/// Wall-clock bound of one function call.
const CALL_TIME_LIMIT: Duration = Duration::from_millis(100);

/// Compiled Rego modules.
#[derive(Clone)]
pub struct FunctionSet {
    engine: regorus::Engine,
}

impl std::fmt::Debug for FunctionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionSet").finish_non_exhaustive()
    }
}

impl FunctionSet {
    /// Parses every module (keyed by a label used in errors, usually the function name),
    /// recording each one that does not parse.
    pub(crate) fn compile(modules: &BTreeMap<String, String>, problems: &mut Problems) -> Self {
        let mut engine = regorus::Engine::new();
        if let Some(check_interval) = NonZeroU32::new(64) {
            engine.set_execution_timer_config(ExecutionTimerConfig {
                limit: CALL_TIME_LIMIT,
                check_interval,
            });
        }
        for (label, source) in modules {
            let file = format!("functions/{label}.rego");
            if let Err(error) = engine.add_policy(file.clone(), source.clone()) {
                problems.push(ConfigError::invalid(
                    &file,
                    &JsonPath::root(),
                    one_line(&error.to_string()),
                ));
            }
        }
        FunctionSet { engine }
    }

    /// Calls `data.functions.<name>`; `Ok(None)` when the rule is undefined for this input.
    pub(crate) fn call(
        &self,
        name: &str,
        arguments: &[Bson],
        user: Option<&Bson>,
    ) -> Result<Option<Bson>, EvalError> {
        let failure = |message: String| EvalError::Function {
            name: name.to_owned(),
            message: one_line(&message),
        };
        let arguments: Vec<serde_json::Value> = arguments
            .iter()
            .map(|value| to_json_value(value, ExtJsonMode::Relaxed))
            .collect();
        let user = user
            .map(|value| to_json_value(value, ExtJsonMode::Relaxed))
            .unwrap_or(serde_json::Value::Null);
        let input = serde_json::json!({"arguments": arguments, "user": user});
        // Each call gets its own engine state; cloning keeps the compiled modules.
        let mut engine = self.engine.clone();
        engine.set_input(regorus::Value::from(input));
        let result = engine
            .eval_rule(format!("data.functions.{name}"))
            .map_err(|error| failure(error.to_string()))?;
        if result == regorus::Value::Undefined {
            return Ok(None);
        }
        let json = serde_json::to_value(&result).map_err(|error| failure(error.to_string()))?;
        from_json_value(&json)
            .map(Some)
            .map_err(|error| failure(error.to_string()))
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
