"""The panel and the other widgets: a form, a gallery of cards, the compare row, the history cards.

Owns: ``panel`` (``%imagine_panel``), ``form``, ``cards``, ``compare``, ``gallery`` (the panel's), ``history``
(``%imagine_history`` as cards) and ``clipboard`` (the anywidget copy button, its JavaScript in
``static/``). May import the features and everything below them; only the notebook front end imports it.
"""
