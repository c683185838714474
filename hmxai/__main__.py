from hmxai.cli import entry

entry()
