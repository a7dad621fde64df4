from services.speaker.server import main

main()
