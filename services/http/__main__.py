from services.http.server import main

main()
