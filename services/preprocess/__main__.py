from services.preprocess.server import main

main()
