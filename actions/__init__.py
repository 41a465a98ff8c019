"""Firstline's custom Rasa actions: acknowledge, answer, flag abuse, hand off."""
