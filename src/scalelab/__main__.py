from scalelab.cli import app

app(prog_name="scalelab")
