"""The viewer's pages: Streamlit scripts that ``app.py`` runs through ``st.navigation``.

Not named ``pages/``: Streamlit would also serve a ``pages/`` folder as pages of its own,
bypassing ``app.py`` (its page config, navigation and sidebar).
"""
