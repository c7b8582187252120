"""Everything Streamlit: pages (app/pages/), the sidebar, cached resources, the run view, charts and UI wording."""
