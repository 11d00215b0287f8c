"""DMARC relaxed alignment compares organisational domains, found with the Public Suffix List:
two shops under co.uk are different organisations, a bounce subdomain is the same one."""

import pytest

from services.email.deliverability import aligned, organisational_domain


@pytest.mark.parametrize(
    ("domain", "organisation"),
    [
        ("example.com", "example.com"),
        ("bounce.mail.example.com", "example.com"),
        ("bounce.example.co.uk", "example.co.uk"),
        ("Example.CO.UK.", "example.co.uk"),
        ("shop.example.com.au", "example.com.au"),
        ("co.uk", "co.uk"),
    ],
)
def test_the_organisational_domain_is_the_public_suffix_and_one_label(domain, organisation):
    assert organisational_domain(domain) == organisation


def test_relaxed_alignment_keeps_a_bounce_subdomain_and_refuses_a_neighbour_under_the_same_suffix():
    assert aligned("bounce.example.co.uk", "example.co.uk", "r")
    assert not aligned("other.co.uk", "example.co.uk", "r")
    assert not aligned("bounce.example.co.uk", "example.co.uk", "s")
