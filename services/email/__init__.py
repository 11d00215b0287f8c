"""Invoice email: wording (templates), the MIME message, and the transports that send it.

`templates` renders subject, text and HTML per language; `message` composes the MIME
message and the signed VERP return path; `transport` defines what a send can end as;
`smtp` (aiosmtplib) and `memory` implement it, and `script` describes the scripted
server answers both the in-memory transport and the sandbox SMTP server play.
"""
