from .cli import kd_app

if __name__ == "__main__":
    kd_app()
