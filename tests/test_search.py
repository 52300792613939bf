"""`subject find` / `subject search`: spellings, scripts, plates, ranking, reasons, access,
audit; duplicate refusal on `subject add`."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.core import search
from bot.core.search import after_prefix, fold, skeleton
from bot.serving.app import App
from bot.store.models import AuditEntry, Subject, SubjectKey
from tests.fieldintel import OP, fetch, join, ok, operation, refused, text


async def _people(app: App) -> None:
    await operation(app)
    await ok(app, "subject add person Ivan Petrov --category suspect --alias Vanya --tlp green")
    await ok(app, "subject add person Mohamed Saleh --category suspect")
    await ok(app, "subject add person Zoë Martin --category associate")
    await ok(app, "subject add vehicle 1234 ABC --desc 'white Transit van' --tlp green")
    await ok(app, "subject add person Пётр Сидоров --category associate")


SPELLINGS = [
    ("Petrov", "S-1 Ivan Petrov", "name 'Ivan Petrov'"),
    ("PETROV", "S-1 Ivan Petrov", "name 'Ivan Petrov'"),
    ("petrov", "S-1 Ivan Petrov", "name 'Ivan Petrov'"),
    ("Petrow", "S-1 Ivan Petrov", "sounds like name 'Ivan Petrov'"),
    ("Petrof", "S-1 Ivan Petrov", "spelling close to name 'Ivan Petrov'"),
    ("Петров", "S-1 Ivan Petrov", "name 'Ivan Petrov' (transliterated)"),
    ("Ivan Petrov", "S-1 Ivan Petrov", "name 'Ivan Petrov'"),
    ("Iva", "S-1 Ivan Petrov", "partial: name 'Ivan Petrov'"),
    ("vanya", "S-1 Ivan Petrov", "alias 'Vanya'"),
    ("Mohamed", "S-2 Mohamed Saleh", "name 'Mohamed Saleh'"),
    ("Muhammad", "S-2 Mohamed Saleh", "sounds like name 'Mohamed Saleh'"),
    ("محمد", "S-2 Mohamed Saleh", "sounds like name 'Mohamed Saleh' (transliterated)"),
    ("Zoe", "S-3 Zoë Martin", "name 'Zoë Martin'"),
    ("Zoë", "S-3 Zoë Martin", "name 'Zoë Martin'"),
    ("ZOE martin", "S-3 Zoë Martin", "name 'Zoë Martin'"),
    ("1234 ABC", "S-4 1234 ABC", "name '1234 ABC'"),
    ("1234-abc", "S-4 1234 ABC", "name '1234 ABC'"),
    ("1234abc", "S-4 1234 ABC", "name '1234 ABC'"),
    ("Petr Sidorov", "S-5 Пётр Сидоров", "(transliterated)"),
]


@pytest.mark.parametrize(("query", "found", "reason"), SPELLINGS)
async def test_every_spelling_finds_its_subject_and_says_why(
    any_app: App, query: str, found: str, reason: str
) -> None:
    app = any_app
    await _people(app)
    shown = text(await ok(app, f'subject find "{query}"', who="mia"))
    [line] = [line for line in shown.splitlines() if line.startswith(found)]
    assert line.endswith(reason), line
    # Nothing else matches these queries: Petrov is not Mohamed, a plate is not a name.
    assert sum(1 for line in shown.splitlines() if line.startswith("S-")) == 1, shown


async def test_search_is_an_alias_and_no_match_says_so(app: App) -> None:
    await _people(app)
    assert "S-1 Ivan Petrov" in text(await ok(app, "subject search petrov", who="mia"))
    said = text(await ok(app, "subject find Smith", who="mia"))
    assert "No subject you may read matches “Smith”." in said
    assert "Give a name" in await refused(app, "subject find '!?'", who="mia")


@pytest.mark.parametrize(
    ("word", "key"),
    [("Petrov", "ptrv"), ("Petrow", "ptrv"), ("Mohamed", "mhmd"), ("Muhammad", "mhmd")],
)
def test_skeletons(word: str, key: str) -> None:
    [folded] = fold(word)
    assert skeleton(folded) == key
    assert fold("محمد") == ["mhmd"] and skeleton("mhmd") == "mhmd"


def test_prefix_ranges_use_letters_and_digits_only() -> None:
    assert after_prefix("petrov") == "petrow"
    assert after_prefix("abz") == "ac" and after_prefix("a9") == "aa"
    assert after_prefix("zz") is None


async def test_exact_matches_rank_before_partial_and_close_ones(any_app: App) -> None:
    app = any_app
    await operation(app, people=False)
    await ok(app, "subject add person Anna Petrovna --category associate")
    await ok(app, "subject add person Petrow Ltd --category associate")
    await ok(app, "subject add person Ivan Petrov --category suspect")
    lines = [
        line
        for line in text(await ok(app, "subject find petrov")).splitlines()
        if line.startswith("S-")
    ]
    assert [line.split(" —")[0] for line in lines] == [
        "S-3 Ivan Petrov",
        "S-1 Anna Petrovna",
        "S-2 Petrow Ltd",
    ]


async def test_results_are_paged(app: App) -> None:
    await operation(app, people=False)
    for n in range(1, 13):
        await ok(app, f"subject add vehicle Transit {n}")
    await ok(app, "subject add person Zz Top --category associate")
    assert "S-13 Zz Top" in text(await ok(app, "subject find zz"))  # no upper bound
    first = await ok(app, "subject find transit")
    assert first.message.title == f"{OP}: subjects matching “transit” (page 1 of 2)"
    assert first.message.buttons[0].command == f"subject find {OP} transit --page 2"
    second = text(await ok(app, "subject find transit --page 2"))
    assert [line.split(" —")[0] for line in second.splitlines() if line.startswith("S-")] == [
        "S-11 Transit 11",
        "S-12 Transit 12",
    ]


async def test_a_partner_never_finds_a_suspect(any_app: App) -> None:
    app = any_app
    await _people(app)
    # S-1 is a GREEN suspect: a partner reads GREEN, but never suspects.
    said = text(await ok(app, "subject find Petrov", who="pat"))
    assert "No subject you may read matches" in said and "hidden" not in said
    assert not [line for line in said.splitlines() if line.startswith("S-")]
    assert "alias 'Vanya'" not in text(await ok(app, "subject find Vanya", who="pat"))
    # A GREEN vehicle is for partners too.
    assert "S-4 1234 ABC" in text(await ok(app, "subject find 1234abc", who="pat"))


async def test_observers_and_red_and_protected_subjects(any_app: App) -> None:
    app = any_app
    await _people(app)
    await ok(app, "subject add person Olga Ivanova --category suspect --tlp amber+strict")
    await ok(app, "subject add person Nadia Ivanova --category victim --dob 1990")
    await ok(app, "subject add person Vera Ivanova --category suspect --tlp red")
    names = ("Olga", "Nadia", "Vera")

    def found(reply_text: str) -> set[str]:
        return {n for n in names if f"{n} Ivanova" in reply_text}

    assert found(text(await ok(app, "subject find Ivanova"))) == set(names)  # creator, lead
    # A member does not read someone else's TLP:RED subject.
    assert found(text(await ok(app, "subject find Ivanova", who="mia"))) == {"Olga", "Nadia"}
    # An observer reads up to AMBER, and a protected victim only when granted.
    assert found(text(await ok(app, "subject find Ivanova", who="obe"))) == set()
    await ok(app, "subject grant S-7 obe")
    assert found(text(await ok(app, "subject find Ivanova", who="obe"))) == {"Nadia"}


async def test_an_outsider_finds_nothing_of_another_operation(any_app: App) -> None:
    app = any_app
    await _people(app)
    await ok(app, 'op new "Other" --code OP-OTHER')
    await join(app, "OP-OTHER", "oto", "member")
    await ok(app, "subject add OP-OTHER person Olga Petrova --category suspect")
    said = text(await ok(app, "subject find Petrov", who="oto"))
    assert "S-1 Olga Petrova" in said and "Ivan" not in said
    assert "There is no operation OP-NIGHTJAR that you belong to." in await refused(
        app, f"subject find {OP} Petrov", who="oto"
    )


async def test_each_result_is_named_in_a_consult_entry(app: App) -> None:
    await _people(app)
    await ok(app, "subject find Ivan", who="mia")
    async with app.store.transaction() as session:
        entry = (
            await session.exec(
                select(AuditEntry)
                .where(AuditEntry.command == "subject find")
                .order_by(col(AuditEntry.id).desc())
            )
        ).first()
    assert entry is not None
    assert (entry.action, entry.object_ref) == ("consult", f"{OP}/S-1")


async def test_search_keys_are_stored_with_the_subject(app: App) -> None:
    await _people(app)
    keys = await fetch(app, SubjectKey)
    [s1] = [s for s in await fetch(app, Subject) if s.seq == 1]
    mine = {(k.part, k.token, k.skel) for k in keys if k.subject_id == s1.id}
    assert mine == {
        ("name", "ivan", "ivn"),
        ("name", "petrov", "ptrv"),
        ("name", "ivanpetrov", "ivnptrv"),
        ("alias", "vanya", "vn"),
    }


# ---------------------------------------------------------------------- duplicates


DUPLICATES = [
    ("subject add person Ivan Petrow --category associate", "S-1 Ivan Petrov (name 'Ivan Petrov')"),
    ("subject add person Иван Петров --category suspect", "S-1 Ivan Petrov (name 'Ivan Petrov')"),
    ("subject add person PETROV IVAN --category suspect", "S-1 Ivan Petrov (name 'Ivan Petrov')"),
    ("subject add person Vanya --category suspect", "S-1 Ivan Petrov (alias 'Vanya')"),
    ("subject add person Muhammad Saleh --category suspect", "S-2 Mohamed Saleh"),
    ("subject add vehicle 1234-abc", "S-4 1234 ABC (name '1234 ABC')"),
]


@pytest.mark.parametrize(("line", "twin"), DUPLICATES)
async def test_a_likely_duplicate_is_refused_until_new(any_app: App, line: str, twin: str) -> None:
    app = any_app
    await _people(app)
    said = await refused(app, line, who="mia")
    assert said.startswith(f"Possibly the same as {twin}"), said
    assert "Nothing was recorded" in said and "--new" in said
    assert len(await fetch(app, Subject)) == 5
    # The answer names an existing subject: a consult entry, nothing collected.
    last = (await fetch(app, AuditEntry))[-1]
    assert (last.command, last.action, last.object_ref) == (
        "subject add",
        "consult",
        f"{OP}/{twin.split()[0]}",
    )
    assert last.reason == "possible duplicate: nothing recorded"
    assert (await ok(app, f"{line} --new", who="mia")).message.title.startswith("Added S-6")


NOT_DUPLICATES = [
    "subject add person Ivan Sidorov --category suspect",
    "subject add person Petra Petrovna --category suspect",
    "subject add vehicle 1235 ABC",
    "subject add place Petrov --desc 'a village'",  # another kind
]


@pytest.mark.parametrize("line", NOT_DUPLICATES)
async def test_different_subjects_are_recorded(app: App, line: str) -> None:
    await _people(app)
    await ok(app, line, who="mia")


async def test_no_duplicate_warning_names_a_subject_the_actor_may_not_read(app: App) -> None:
    await _people(app)
    await ok(app, "subject add person Vera Ivanova --category suspect --tlp red")
    # mia may not read admin's TLP:RED subject: no warning, nothing learnt.
    reply = await ok(app, "subject add person Vera Ivanova --category suspect", who="mia")
    assert "Vera" in reply.message.title and "Possibly" not in text(reply)
    # The lead who reads both is warned.
    assert "Possibly the same as S-6" in await refused(
        app, "subject add person Vera Ivanowa --category suspect"
    )


async def test_greek_names_both_ways(app: App) -> None:
    await operation(app, people=False)
    await ok(app, "subject add person Γιώργος Παπαδόπουλος --category suspect")
    await ok(app, "subject add person Nikos Papadakis --category associate")
    found = text(await ok(app, "subject find Papadopoulos"))
    assert "S-1 Γιώργος Παπαδόπουλος" in found and "(transliterated)" in found
    assert "Papadakis" not in found
    assert "S-2 Nikos Papadakis" in text(await ok(app, "subject find Παπαδάκης"))


async def test_a_very_common_word_is_read_again_among_the_other_words_matches(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    await operation(app, people=False)
    for name in ("Mohamed Ali", "Mohamed Bakr", "Mohamed Chami", "Mohamed Daoud", "Mohamed Saleh"):
        await ok(app, f"subject add person {name} --category suspect --new")
    monkeypatch.setattr(search, "MAX_ROWS_PER_WORD", 3)  # "mohamed" is now too common
    found = text(await ok(app, "subject find Mohamed Saleh"))
    assert "S-5 Mohamed Saleh" in found
    assert "S-5 Mohamed Saleh" in text(await ok(app, "subject find Saleh Muhammad"))
