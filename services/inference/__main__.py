from services.inference.server import main

main()
