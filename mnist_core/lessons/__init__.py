"""The computations behind the /learn lessons, one module per idea of the course: no Streamlit, plotly or pandas,
so every number a lesson shows can be computed (and tested) here and the pages only draw it."""
