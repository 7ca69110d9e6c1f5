from riskmodel.cli import app

app()
