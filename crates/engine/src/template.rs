//! Chat templates: the GGUF's own `tokenizer.chat_template`, rendered with a real Jinja engine.

use minijinja::{Environment, Error, ErrorKind, Value};
use serde::Serialize;

use crate::EngineError;

/// A chat message as the template sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TemplateMessage {
    pub role: String,
    pub content: String,
}

/// ChatML, used when a model file carries no template of its own.
pub const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compile a template; errors name the template problem.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, EngineError> {
        let mut env = Environment::new();
        // The settings Hugging Face's transformers renders chat templates with.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_function("strftime_now", |_fmt: String| -> Result<Value, Error> {
            // Templates use this for a "today is" line; the engine keeps rendering deterministic.
            Ok(Value::from(""))
        });
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| EngineError::InvalidModel(format!("chat template: {e}")))?;
        Ok(Self {
            env,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        })
    }

    pub fn render(
        &self,
        messages: &[TemplateMessage],
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| EngineError::Template(e.to_string()))?;
        tmpl.render(minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token,
            eos_token => self.eos_token,
        })
        .map_err(|e| EngineError::Template(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, content: &str) -> TemplateMessage {
        TemplateMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    #[test]
    fn chatml_renders_the_documented_form() -> Result<(), EngineError> {
        let t = ChatTemplate::new(CHATML, "", "<|im_end|>")?;
        let out = t.render(&[msg("system", "Be brief."), msg("user", "Hi")], true)?;
        assert_eq!(out, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
        Ok(())
    }

    #[test]
    fn raise_exception_becomes_an_error() -> Result<(), EngineError> {
        let t = ChatTemplate::new("{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}", "", "")?;
        let err = t
            .render(&[msg("system", "x")], true)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("first must be user"), "{err}");
        Ok(())
    }

    #[test]
    fn python_string_methods_work() -> Result<(), EngineError> {
        let t = ChatTemplate::new(
            "{% for m in messages %}{{ m.content.strip() | upper }}{% endfor %}",
            "",
            "",
        )?;
        assert_eq!(t.render(&[msg("user", "  hi  ")], false)?, "HI");
        Ok(())
    }

    #[test]
    fn a_broken_template_is_refused() {
        assert!(ChatTemplate::new("{% for %}", "", "").is_err());
    }
}
