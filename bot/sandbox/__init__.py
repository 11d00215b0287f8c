"""Local stand-ins that the tests and the demo run on 127.0.0.1 instead of the outside world.

`smtp_server.ScriptedSmtpServer` is a mail relay that answers as scripted (refuse a
recipient, defer, hang, drop the connection after the data); the Slack stand-ins live
beside it.
"""
