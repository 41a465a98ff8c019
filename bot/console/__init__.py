"""The agent console: sign-in, the queue, the case view and everything agents do with a case.

This file imports nothing on purpose: `firstline users ...` reaches the console's commands
through it, and the site (`bot.console.site`) brings the whole service and Rasa with it, seven
seconds of imports that a command reading the store never needs.
"""
