//! Generators over a small universe, so that labels collide, nest and conflict often.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use scif_labels::{
    CategoryKind, Cui, DissemControl, Label, Ldc, Level, RelTo, Releasability, Subject,
};

pub const SYSTEMS: [&str; 3] = ["HCS", "SI", "TK"];
pub const COMPARTMENTS: [&str; 2] = ["G", "P"];
pub const REL_TO: [&str; 5] = ["AUS", "CAN", "GBR", "FVEY", "NATO"];
pub const CATEGORIES: [&str; 3] = ["CTI", "EXPT", "PRVCY"];
pub const NATIONS: [&str; 4] = ["USA", "GBR", "AUS", "FRA"];
pub const GROUPS: [&str; 2] = ["FVEY", "NATO"];

fn pick<'a>(bits: u32, from: &[&'a str]) -> Vec<&'a str> {
    from.iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, s)| *s)
        .collect()
}

#[derive(Debug, Clone)]
struct Raw {
    level: usize,
    sci: Vec<(usize, u32)>,
    fouo: bool,
    orcon: bool,
    propin: bool,
    relido: bool,
    releasability: (u8, u32),
    cui: Option<(Vec<(usize, bool)>, u32)>,
}

fn build(raw: Raw) -> Label {
    let level = Level::ALL[raw.level];
    let mut label = Label::new(level);
    if level.is_classified() {
        for (system, comps) in raw.sci {
            label = label
                .with_sci(SYSTEMS[system], &pick(comps, &COMPARTMENTS))
                .unwrap();
        }
        for (on, control) in [
            (raw.orcon, DissemControl::Orcon),
            (raw.propin, DissemControl::Propin),
            (raw.relido, DissemControl::Relido),
        ] {
            if on {
                label = label.with_control(control).unwrap();
            }
        }
    }
    label = label.with_releasability(match raw.releasability {
        (0, _) => Releasability::Unrestricted,
        (1, _) => Releasability::NoForn,
        (_, bits) => RelTo::new(pick(bits, &REL_TO))
            .map(Releasability::RelTo)
            .unwrap_or(Releasability::NoForn),
    });
    match raw.cui {
        Some((categories, ldcs)) => {
            let mut cui = Cui::new();
            for (c, specified) in categories {
                let kind = if specified {
                    CategoryKind::Specified
                } else {
                    CategoryKind::Basic
                };
                cui = cui.with_category(CATEGORIES[c], kind).unwrap();
            }
            for (i, ldc) in Ldc::ALL.into_iter().enumerate() {
                if ldcs & (1 << i) != 0 {
                    cui = cui.with_ldc(ldc);
                }
            }
            label.with_cui(cui).unwrap()
        }
        None if raw.fouo && level == Level::Unclassified => {
            label.with_control(DissemControl::Fouo).unwrap()
        }
        None => label,
    }
}

/// A canonical label over the small universe. Controls are sparse so that dominance between
/// two independent labels is common enough to test.
pub fn label() -> impl Strategy<Value = Label> {
    let sci = prop::collection::vec((0..SYSTEMS.len(), 0u32..4), 0..3);
    let cui = prop::option::weighted(
        0.35,
        (
            prop::collection::vec((0..CATEGORIES.len(), prop::bool::weighted(0.3)), 0..3),
            prop::bits::u32::masked(0b11111).prop_map(|b| b & (b >> 1) & 0b11111),
        ),
    );
    let flag = || prop::bool::weighted(0.2);
    (
        0..Level::ALL.len(),
        sci,
        (flag(), flag(), flag(), flag()),
        (
            prop_oneof![2 => Just(0u8), 1 => Just(1u8), 2 => Just(2u8)],
            0u32..32,
        ),
        cui,
    )
        .prop_map(
            |(level, sci, (fouo, orcon, propin, relido), releasability, cui)| {
                build(Raw {
                    level,
                    sci,
                    fouo,
                    orcon,
                    propin,
                    relido,
                    releasability,
                    cui,
                })
            },
        )
}

/// A subject over the same universe.
pub fn subject() -> impl Strategy<Value = Subject> {
    (label(), 0..NATIONS.len(), 0u32..4, any::<bool>()).prop_map(
        |(clearance, nation, groups, us_person)| {
            let nationality = NATIONS[nation];
            let mut s = Subject::new(clearance, nationality, us_person && nationality == "USA");
            for g in pick(groups, &GROUPS) {
                s = s.with_group(g);
            }
            s
        },
    )
}

/// Every label one step away from `l` in some part (a level, an SCI system or compartment, a
/// control, a REL TO entry, NOFORN, a CUI category or its kind, a CUI control, CUI itself),
/// in either direction. Combinations a label cannot hold are skipped.
pub fn neighbours(l: &Label) -> Vec<Label> {
    let base = Parts::of(l);
    let mut out = Vec::new();
    let mut push = |p: Parts| {
        if let Some(n) = p.build() {
            if n != *l {
                out.push(n);
            }
        }
    };
    for level in Level::ALL {
        push(Parts {
            level,
            ..base.clone()
        });
    }
    for system in SYSTEMS {
        let mut p = base.clone();
        match p.sci.iter().position(|(s, _)| s == system) {
            Some(i) => {
                p.sci.remove(i);
            }
            None => p.sci.push((system.to_owned(), Vec::new())),
        }
        push(p);
        for comp in COMPARTMENTS {
            let mut p = base.clone();
            if let Some((_, comps)) = p.sci.iter_mut().find(|(s, _)| s == system) {
                toggle(comps, comp.to_owned());
                push(p);
            }
        }
    }
    for control in DissemControl::ALL {
        let mut p = base.clone();
        toggle(&mut p.controls, control);
        push(p);
    }
    push(Parts {
        releasability: Releasability::Unrestricted,
        ..base.clone()
    });
    push(Parts {
        releasability: Releasability::NoForn,
        ..base.clone()
    });
    let listed: Vec<String> = match &base.releasability {
        Releasability::RelTo(list) => list.entries().map(|e| e.code().to_owned()).collect(),
        _ => Vec::new(),
    };
    for entry in REL_TO {
        let mut codes = listed.clone();
        toggle(&mut codes, entry.to_owned());
        if let Ok(list) = RelTo::new(codes.iter().map(String::as_str)) {
            push(Parts {
                releasability: Releasability::RelTo(list),
                ..base.clone()
            });
        }
    }
    match &base.cui {
        None => push(Parts {
            cui: Some((Vec::new(), Vec::new())),
            ..base.clone()
        }),
        Some((categories, ldcs)) => {
            push(Parts {
                cui: None,
                ..base.clone()
            });
            for name in CATEGORIES {
                let kinds: [Option<CategoryKind>; 3] = [
                    None,
                    Some(CategoryKind::Basic),
                    Some(CategoryKind::Specified),
                ];
                for kind in kinds {
                    let mut cats: Vec<_> = categories
                        .iter()
                        .filter(|(n, _)| n != name)
                        .cloned()
                        .collect();
                    if let Some(kind) = kind {
                        cats.push((name.to_owned(), kind));
                    }
                    push(Parts {
                        cui: Some((cats, ldcs.clone())),
                        ..base.clone()
                    });
                }
            }
            for ldc in Ldc::ALL {
                let mut ldcs = ldcs.clone();
                toggle(&mut ldcs, ldc);
                push(Parts {
                    cui: Some((categories.clone(), ldcs)),
                    ..base.clone()
                });
            }
        }
    }
    out
}

fn toggle<T: PartialEq>(v: &mut Vec<T>, x: T) {
    match v.iter().position(|y| *y == x) {
        Some(i) => {
            v.remove(i);
        }
        None => v.push(x),
    }
}

/// A CUI part taken apart: categories with kinds, and controls.
type CuiParts = (Vec<(String, CategoryKind)>, Vec<Ldc>);

/// A label taken apart through the public API, to be rebuilt with one part changed.
#[derive(Clone)]
struct Parts {
    level: Level,
    sci: Vec<(String, Vec<String>)>,
    controls: Vec<DissemControl>,
    releasability: Releasability,
    cui: Option<CuiParts>,
}

impl Parts {
    fn of(l: &Label) -> Parts {
        Parts {
            level: l.level(),
            sci: l
                .sci()
                .systems()
                .map(|(s, c)| (s.to_owned(), c.map(str::to_owned).collect()))
                .collect(),
            controls: l.controls().collect(),
            releasability: l.releasability().clone(),
            cui: l.cui().map(|c| {
                (
                    c.categories().map(|(n, k)| (n.to_owned(), k)).collect(),
                    c.ldcs().collect(),
                )
            }),
        }
    }

    fn build(self) -> Option<Label> {
        let mut l = Label::new(self.level).with_releasability(self.releasability);
        for (system, comps) in &self.sci {
            let comps: Vec<&str> = comps.iter().map(String::as_str).collect();
            l = l.with_sci(system, &comps).ok()?;
        }
        if let Some((categories, ldcs)) = self.cui {
            let mut cui = Cui::new();
            for (name, kind) in categories {
                cui = cui.with_category(&name, kind).ok()?;
            }
            for ldc in ldcs {
                cui = cui.with_ldc(ldc);
            }
            l = l.with_cui(cui).ok()?;
        }
        for control in self.controls {
            l = l.with_control(control).ok()?;
        }
        Some(l)
    }
}
