"""The process: settings, composition root, CLI, web server and background loops."""
