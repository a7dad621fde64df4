from services.features.server import main

main()
