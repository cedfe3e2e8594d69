"""The TwiML voice verbs, a module per verb or small family; each runs on a :class:`CallSession`.

A verb handler is ``handler(session, verb, doc)`` and returns the next document to run
(an action's answer, a Redirect's), :data:`appliance.voice.documents.FAILED`, or None
to go on with the next verb.  :mod:`appliance.voice.flow` dispatches to them by name.
"""
