//! Parsing banner lines and portion marks.
//!
//! Markings are case-sensitive uppercase, as they are written. Categories are split by `//` and
//! must come in banner order; values inside a category are split by `/` and may come in any
//! order (printing normalizes them). A REL TO list must start with USA; the other entries may
//! come in any order. Repeats, conflicts and values the level cannot carry are errors.

use crate::cui::noforn_word;
use crate::releasability::parse_list;
use crate::sci::{self, looks_like_sci};
use crate::{Cui, DissemControl, Form, Label, Ldc, Level, MarkingError, Releasability};

pub(crate) fn parse(marking: &str, form: Form) -> Result<Label, MarkingError> {
    let body = match form {
        Form::Banner => marking,
        Form::Portion => marking
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or(MarkingError::PortionParentheses)?,
    };
    if body.is_empty() {
        return Err(MarkingError::Empty);
    }
    let segments: Vec<&str> = body.split("//").collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(MarkingError::EmptyCategory);
    }
    let parser = Parser { form, marking };
    match segments.split_first() {
        Some((&"CUI", rest)) => parser.cui_label(rest),
        Some((first, rest)) => parser.level_label(first, rest),
        None => Err(MarkingError::Empty),
    }
}

struct Parser<'a> {
    form: Form,
    marking: &'a str,
}

/// Where a classified (or UNCLASSIFIED) marking has got to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Level,
    Sci,
    Dissemination,
}

impl Parser<'_> {
    /// `CUI[//categories][//controls]`: UNCLASSIFIED with CUI.
    fn cui_label(&self, rest: &[&str]) -> Result<Label, MarkingError> {
        let mut label = Label::unclassified();
        let mut cui = Cui::new();
        self.cui_block(rest, &mut cui, Some(&mut label.releasability))?;
        label.cui = Some(cui);
        Ok(label)
    }

    /// `LEVEL[//SCI][//dissemination][//CUI[//categories][//controls]]`.
    fn level_label(&self, first: &str, rest: &[&str]) -> Result<Label, MarkingError> {
        let level = self.level(first)?;
        let mut label = Label::new(level);
        let mut stage = Stage::Level;
        for (i, segment) in rest.iter().enumerate() {
            if *segment == "CUI" {
                if !level.is_classified() {
                    return Err(MarkingError::NotAllowedAtLevel {
                        found: "CUI".to_owned(),
                        level,
                    });
                }
                let mut cui = Cui::new();
                self.cui_block(rest.get(i + 1..).unwrap_or_default(), &mut cui, None)?;
                label.cui = Some(cui);
                return Ok(label);
            }
            let head = first_value(segment);
            if stage == Stage::Level && looks_like_sci(head) {
                if !level.is_classified() {
                    return Err(MarkingError::NotAllowedAtLevel {
                        found: head.to_owned(),
                        level,
                    });
                }
                self.sci(segment, &mut label)?;
                stage = Stage::Sci;
            } else if stage < Stage::Dissemination && !looks_like_sci(head) {
                self.dissemination(segment, &mut label)?;
                stage = Stage::Dissemination;
            } else if looks_like_sci(head) || self.is_dissemination(head) {
                return Err(MarkingError::CategoryOutOfOrder {
                    found: (*segment).to_owned(),
                });
            } else {
                return Err(MarkingError::UnexpectedCategory {
                    found: (*segment).to_owned(),
                });
            }
        }
        Ok(label)
    }

    fn level(&self, word: &str) -> Result<Level, MarkingError> {
        for level in Level::ALL {
            let (mine, other) = match self.form {
                Form::Banner => (level.banner_word(), level.portion_word()),
                Form::Portion => (level.portion_word(), level.banner_word()),
            };
            if word == mine {
                return Ok(level);
            }
            if word == other {
                return Err(wrong_form(word, mine));
            }
        }
        Err(MarkingError::UnknownLevel {
            found: word.to_owned(),
        })
    }

    fn sci(&self, segment: &str, label: &mut Label) -> Result<(), MarkingError> {
        for token in values(segment)? {
            sci::parse_token(&mut label.sci, token)?;
        }
        Ok(())
    }

    /// FOUO, ORCON, NOFORN, PROPIN, REL TO, RELIDO in any order.
    fn dissemination(&self, segment: &str, label: &mut Label) -> Result<(), MarkingError> {
        for token in values(segment)? {
            if let Some(list) = rel_to_list(token) {
                let list = parse_list(list)?;
                set_releasability(&mut label.releasability, Releasability::RelTo(list))?;
            } else if token == noforn_word(self.form) {
                set_releasability(&mut label.releasability, Releasability::NoForn)?;
            } else if token == noforn_word(self.form.other()) {
                return Err(wrong_form(token, noforn_word(self.form)));
            } else if let Some(control) = self.control(token)? {
                label.check_control(control, self.form)?;
                if !label.controls.insert(control) {
                    return Err(duplicate(token));
                }
            } else if is_ldc_word(token) {
                return Err(MarkingError::Misplaced {
                    found: token.to_owned(),
                });
            } else {
                return Err(MarkingError::UnknownDissemination {
                    found: token.to_owned(),
                    marking: self.marking.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// A dissemination control word in this form; the other form's word is an error.
    fn control(&self, token: &str) -> Result<Option<DissemControl>, MarkingError> {
        for control in DissemControl::ALL {
            let mine = control.word(self.form);
            if token == mine {
                return Ok(Some(control));
            }
            if token == control.word(self.form.other()) {
                return Err(wrong_form(token, mine));
            }
        }
        Ok(None)
    }

    fn is_dissemination(&self, token: &str) -> bool {
        rel_to_list(token).is_some()
            || token == noforn_word(Form::Banner)
            || token == noforn_word(Form::Portion)
            || DissemControl::ALL
                .iter()
                .any(|c| token == c.word(Form::Banner) || token == c.word(Form::Portion))
    }

    /// `[categories][//controls]` after `CUI`. `releasability` is where NOFORN and REL TO go:
    /// `None` in the CUI block of a classified marking, where they belong to the classified
    /// dissemination category instead.
    fn cui_block(
        &self,
        segments: &[&str],
        cui: &mut Cui,
        mut releasability: Option<&mut Releasability>,
    ) -> Result<(), MarkingError> {
        let mut seen_categories = false;
        let mut seen_controls = false;
        for segment in segments {
            let head = first_value(segment);
            if seen_controls {
                return Err(MarkingError::UnexpectedCategory {
                    found: (*segment).to_owned(),
                });
            }
            if seen_categories || self.is_cui_control(head) {
                for token in values(segment)? {
                    self.cui_control(token, cui, releasability.as_deref_mut())?;
                }
                seen_controls = true;
            } else {
                for token in values(segment)? {
                    cui.parse_category(token)?;
                }
                seen_categories = true;
            }
        }
        Ok(())
    }

    fn is_cui_control(&self, token: &str) -> bool {
        is_ldc_word(token)
            || rel_to_list(token).is_some()
            || token == noforn_word(Form::Banner)
            || token == noforn_word(Form::Portion)
    }

    fn cui_control(
        &self,
        token: &str,
        cui: &mut Cui,
        releasability: Option<&mut Releasability>,
    ) -> Result<(), MarkingError> {
        let shared = if let Some(list) = rel_to_list(token) {
            Some(Releasability::RelTo(parse_list(list)?))
        } else if token == noforn_word(self.form) {
            Some(Releasability::NoForn)
        } else if token == noforn_word(self.form.other()) {
            return Err(wrong_form(token, noforn_word(self.form)));
        } else {
            None
        };
        match (shared, releasability) {
            (Some(new), Some(current)) => set_releasability(current, new),
            (Some(_), None) => Err(MarkingError::Misplaced {
                found: token.to_owned(),
            }),
            (None, _) => match Ldc::from_word(token) {
                Some(ldc) => cui.insert_ldc(ldc),
                None if self.is_dissemination(token) => Err(MarkingError::Misplaced {
                    found: token.to_owned(),
                }),
                None => Err(MarkingError::UnknownLimitedDissemination {
                    found: token.to_owned(),
                    marking: self.marking.to_owned(),
                }),
            },
        }
    }
}

/// The values of a category, split by `/`; an empty value is an error.
fn values(segment: &str) -> Result<Vec<&str>, MarkingError> {
    let values: Vec<&str> = segment.split('/').collect();
    if values.iter().any(|v| v.is_empty()) {
        return Err(MarkingError::EmptyValue {
            category: segment.to_owned(),
        });
    }
    Ok(values)
}

fn first_value(segment: &str) -> &str {
    segment.split('/').next().unwrap_or_default()
}

/// The list of a `REL TO` value (`""` for a bare `REL TO`), or `None` if `token` is not one.
fn rel_to_list(token: &str) -> Option<&str> {
    if token == "REL TO" {
        Some("")
    } else {
        token.strip_prefix("REL TO ")
    }
}

fn is_ldc_word(token: &str) -> bool {
    Ldc::from_word(token).is_some()
}

fn set_releasability(current: &mut Releasability, new: Releasability) -> Result<(), MarkingError> {
    match (&*current, &new) {
        (Releasability::Unrestricted, _) => {
            *current = new;
            Ok(())
        }
        (Releasability::NoForn, Releasability::NoForn) => Err(duplicate("NOFORN")),
        (Releasability::RelTo(_), Releasability::RelTo(_)) => Err(duplicate("REL TO")),
        _ => Err(MarkingError::Conflict {
            first: "NOFORN".to_owned(),
            second: "REL TO".to_owned(),
        }),
    }
}

fn duplicate(found: &str) -> MarkingError {
    MarkingError::Duplicate {
        found: found.to_owned(),
    }
}

fn wrong_form(found: &str, expected: &str) -> MarkingError {
    MarkingError::WrongForm {
        found: found.to_owned(),
        expected: expected.to_owned(),
    }
}
