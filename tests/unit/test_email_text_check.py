"""A preset email text is checked by the same sandboxed `check_template` as the organisation's templates."""

from services.email.email_texts import EmailTextEdit, check_email_text

GOOD = EmailTextEdit(
    name="Friendly reminder",
    language="fr",
    subject="Rappel {{ invoice_number }}",
    message="Bonjour {{ customer_name }},\n{{ amount }}",
)


def test_a_good_text_has_no_problem():
    assert check_email_text(GOOD) == {}


def test_each_problem_is_said_on_its_field_with_the_line():
    edit = EmailTextEdit(
        name=" standard ",
        language="tlh",
        subject="{% if %}",
        message="Hello\n{{ customer_name.__class__.__mro__ }}",
    )

    problems = check_email_text(edit)

    assert set(problems) == {"name", "language", "subject", "message"}
    assert "built-in text" in problems["name"]
    assert "'tlh' is not one of them" in problems["language"]
    assert problems["subject"].startswith("Line 1:")
    assert problems["message"].startswith("Line 2: this template tries to use something templates may not touch")


def test_an_empty_name_or_subject_is_refused():
    problems = check_email_text(EmailTextEdit(name="  ", language="en", subject=" ", message="Hi"))

    assert problems == {"name": "Give the text a name, like “Friendly reminder”.", "subject": "The template is empty."}
