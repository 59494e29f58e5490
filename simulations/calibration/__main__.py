from simulations.calibration.main import main

main()
